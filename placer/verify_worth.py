"""Verifier: what a plan says its power options are worth (``investments[].worth``, ``build_first``).

The worth itself comes from a re-schedule the verifier does not repeat (one CP-SAT solve per option);
what it can recompute from the plan, it does, on its own arithmetic:

* ``WORTH_NOT_INVESTMENT``: every ``build_first`` entry names an option the plan invests in, once,
  and every investment with a worth whose status is OPTIMAL, FEASIBLE or INFEASIBLE is listed; a forced option (a fixed
  upgrade, no decision) carries no worth;
* ``WORTH_MISMATCH``: an entry's quarter, capex and savings are its investment's; a worth's
  ``npv_saved_usd`` is ``npv_without_usd`` minus ``npv_with_usd`` and its GPU-quarters saved are
  ``stranded_gpu_quarters_without`` minus ``stranded_gpu_quarters_with``; the baseline (``_with``) is
  one for all options and no worse than the plan's own NPV (the stranding is the plan's when the
  baseline is the plan's schedule); its ``without`` names the option and every
  built option that requires one it names (dropping a prerequisite drops what needs it); an
  INFEASIBLE worth has no figures, an OPTIMAL or FEASIBLE one has them;
* ``WORTH_RANKING``: ranks are 1, 2, ... in list order, options the placement needs (no saving: the
  re-schedule was INFEASIBLE) first, then by NPV saved, largest first.

Input: the scenario and the plan. Output: findings (code, entity, message). Complexity: O(I·O) for
I investments and O options.
"""

from __future__ import annotations

from dataclasses import dataclass

from placer.contract import USD_ABS_TOL, USD_REL_TOL
from placer.plan import Investment, Plan
from placer.scenario import Scenario

CODES = ["WORTH_NOT_INVESTMENT", "WORTH_MISMATCH", "WORTH_RANKING"]
RANKED = ("OPTIMAL", "FEASIBLE", "INFEASIBLE")  # a worth with one of these statuses is listed


@dataclass(frozen=True)
class Finding:
    code: str
    entity: str
    message: str


def _same_usd(a: float, b: float) -> bool:
    return abs(a - b) <= USD_ABS_TOL + USD_REL_TOL * max(abs(a), abs(b))


def check_worth(scenario: Scenario, plan: Plan) -> list[Finding]:
    """See the module docstring."""
    found: list[Finding] = []
    investments: dict[str, Investment] = {}
    for inv in plan.investments or []:  # the first entry per option (a repeat is OPTION_TWICE's finding)
        investments.setdefault(inv.option, inv)
    r = scenario.rollout
    options = {o.id: o for o in r.options} if r is not None else {}
    npv = plan.npv.total_usd if plan.npv is not None else None
    stranded = plan.summary.stranded_gpu_quarters

    baselines: set[tuple[float, int]] = set()
    for oid, inv in investments.items():
        w, ent = inv.worth, f"option:{oid}"
        if w is None:
            continue
        opt = options.get(oid)
        if opt is not None and opt.forced:
            found.append(Finding("WORTH_NOT_INVESTMENT", ent, f"'{oid}' is forced (a fixed upgrade) but has a worth"))
        if oid not in w.without:
            found.append(Finding("WORTH_MISMATCH", ent, f"worth.without {w.without} does not name '{oid}' itself"))
        dropped = set(w.without)
        for other in investments:
            need = options[other].requires if other in options else []
            if other not in dropped and any(x in dropped for x in need):
                found.append(
                    Finding("WORTH_MISMATCH", ent, f"worth.without keeps '{other}', which requires an option it drops")
                )
        figures = (w.npv_without_usd, w.npv_saved_usd, w.stranded_gpu_quarters_without, w.stranded_gpu_quarters_saved)
        if w.status == "INFEASIBLE" and any(f is not None for f in figures):
            found.append(Finding("WORTH_MISMATCH", ent, "an INFEASIBLE re-schedule has no figures, but some are given"))
        if w.status in ("OPTIMAL", "FEASIBLE") and any(f is None for f in figures):
            found.append(Finding("WORTH_MISMATCH", ent, f"a {w.status} re-schedule must give all its figures"))
        if npv is not None and w.npv_with_usd > npv + USD_ABS_TOL + USD_REL_TOL * abs(npv):
            found.append(
                Finding(
                    "WORTH_MISMATCH",
                    ent,
                    f"the baseline npv_with_usd {w.npv_with_usd:,.0f} is worse than the plan's own NPV {npv:,.0f}",
                )
            )
        if npv is not None and _same_usd(w.npv_with_usd, npv) and w.stranded_gpu_quarters_with != stranded:
            found.append(
                Finding(
                    "WORTH_MISMATCH",
                    ent,
                    f"the baseline is the plan's schedule but stranded_gpu_quarters_with "
                    f"{w.stranded_gpu_quarters_with:,} is not the plan's {stranded:,}",
                )
            )
        baselines.add((round(w.npv_with_usd, 2), w.stranded_gpu_quarters_with))
        if w.npv_saved_usd is not None and w.npv_without_usd is not None:
            if not _same_usd(w.npv_saved_usd, w.npv_without_usd - w.npv_with_usd):
                found.append(
                    Finding(
                        "WORTH_MISMATCH",
                        ent,
                        f"npv_saved_usd {w.npv_saved_usd:,.0f} is not npv_without_usd {w.npv_without_usd:,.0f} "
                        f"minus npv_with_usd {w.npv_with_usd:,.0f}",
                    )
                )
        if w.stranded_gpu_quarters_saved is not None and w.stranded_gpu_quarters_without is not None:
            if w.stranded_gpu_quarters_saved != w.stranded_gpu_quarters_without - w.stranded_gpu_quarters_with:
                found.append(
                    Finding(
                        "WORTH_MISMATCH",
                        ent,
                        f"stranded_gpu_quarters_saved {w.stranded_gpu_quarters_saved:,} is not "
                        f"{w.stranded_gpu_quarters_without:,} without minus {w.stranded_gpu_quarters_with:,} with",
                    )
                )
    if len(baselines) > 1:
        found.append(Finding("WORTH_MISMATCH", "investments", "the options' worths have different baselines"))

    if plan.build_first is None:
        return found
    listed: set[str] = set()
    for j, b in enumerate(plan.build_first):
        ent = f"build_first[{j}]"
        held = investments.get(b.option)
        if held is None or b.option in listed:
            why = "is listed twice" if b.option in listed else "is not one of the plan's investments"
            found.append(Finding("WORTH_NOT_INVESTMENT", ent, f"'{b.option}' {why}"))
            listed.add(b.option)
            continue
        listed.add(b.option)
        w = held.worth
        if w is None:
            found.append(Finding("WORTH_NOT_INVESTMENT", ent, f"'{b.option}' has no worth in investments"))
            continue
        pairs = [
            ("period", b.period, held.period),
            ("capex_usd", b.capex_usd, held.capex_usd),
            ("npv_saved_usd", b.npv_saved_usd, w.npv_saved_usd),
            ("stranded_gpu_quarters_saved", b.stranded_gpu_quarters_saved, w.stranded_gpu_quarters_saved),
        ]
        for name, got, want in pairs:
            same = got == want or (
                isinstance(got, float) and isinstance(want, float) and name.endswith("_usd") and _same_usd(got, want)
            )
            if not same:
                found.append(Finding("WORTH_MISMATCH", ent, f"{name} is {got!r}, the investment's is {want!r}"))
    for oid, inv in investments.items():
        if inv.worth is not None and inv.worth.status in RANKED and oid not in listed:
            found.append(Finding("WORTH_NOT_INVESTMENT", f"option:{oid}", f"'{oid}' has a worth but is not listed"))

    def key(b) -> tuple[int, float]:
        return (0, 0.0) if b.npv_saved_usd is None else (1, -b.npv_saved_usd)

    entries = plan.build_first
    for j, b in enumerate(entries):
        if b.rank != j + 1:
            found.append(Finding("WORTH_RANKING", f"build_first[{j}]", f"rank is {b.rank}, its place is {j + 1}"))
        if j and key(b) < key(entries[j - 1]):
            before = entries[j - 1]
            found.append(
                Finding(
                    "WORTH_RANKING",
                    f"build_first[{j}]",
                    f"'{b.option}' (saves {b.npv_saved_usd}) ranks below '{before.option}' "
                    f"(saves {before.npv_saved_usd}); needed options first, then by NPV saved, largest first",
                )
            )
    return found
