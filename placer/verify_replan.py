"""Verifier checks of a re-plan (``plan.replan``, from ``placer solve --from PREVIOUS``).

Input: the scenario, the plan and, when given, the previous plan. Output: findings with the codes

* ``REPLAN_PREVIOUS``: the previous plan given is the one the plan names (its :func:`plan_digest` and
  scenario digest);
* ``REPLAN_MOVES``: the reported moves are the verifier's own recomputation -- per (tenant, SKU, site),
  the previous plan's racks there minus this plan's, when positive -- and ``racks_moved``,
  ``racks_kept`` and the one-off ``move_cost_usd`` add up; without the previous plan only the sums;
* ``REPLAN_FROZEN``: every frozen site is a site of the scenario and keeps at least the previous
  plan's racks of every tenant and SKU (needs the previous plan).

The ``moves`` cost term (USD per year) is recomputed in :mod:`placer.verify` from the reported moves
(:func:`moves_usd_per_year`): racks moved times the one-off cost times the scenario's own capital
recovery factor. Never imports ``solvers``.

Complexity: O(A + A') for the plan's and the previous plan's assignments.
"""

from __future__ import annotations

import math
from collections import defaultdict

from placer.contract import USD_ABS_TOL, USD_REL_TOL
from placer.plan import Plan, plan_digest
from placer.scenario import Scenario
from placer.verify_finding import Finding

CODES = ["REPLAN_PREVIOUS", "REPLAN_MOVES", "REPLAN_FROZEN"]


def _racks(plan: Plan) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    for a in plan.assignments:
        out[(a.tenant, a.sku, a.site)] += int(a.racks)
    return out


def moves_usd_per_year(scenario: Scenario, plan: Plan) -> float:
    """The ``moves`` cost term of a re-plan: reported racks moved x one-off cost x CRF, USD per year."""
    r = plan.replan
    assert r is not None
    n = sum(m.racks for m in r.moves)
    return n * r.move_cost_usd_per_rack * scenario.policy.cost.capital_recovery_factor


def check_replan(scenario: Scenario, plan: Plan, previous: Plan | None) -> list[Finding]:
    """The findings of the re-plan checks (see the module docstring); none for a plan without ``replan``."""
    r = plan.replan
    found: list[Finding] = []

    def add(code: str, entity: str, message: str, measured=None, limit=None, unit: str = "") -> None:
        found.append(Finding(code, entity, measured, limit, unit, message))

    if r is None:
        if previous is not None:
            add(
                "REPLAN_MOVES",
                "replan",
                "a previous plan was given, but the plan reports no re-plan (no replan section)",
            )
        return found
    n = sum(m.racks for m in r.moves)
    if n != r.racks_moved:
        add(
            "REPLAN_MOVES",
            "replan",
            f"racks_moved is {r.racks_moved:,}, the moves add up to {n:,}",
            r.racks_moved,
            n,
            "racks",
        )
    if not math.isclose(r.move_cost_usd, n * r.move_cost_usd_per_rack, rel_tol=USD_REL_TOL, abs_tol=USD_ABS_TOL):
        add(
            "REPLAN_MOVES",
            "replan",
            f"move_cost_usd is {r.move_cost_usd:,.2f}, but {n:,} racks at {r.move_cost_usd_per_rack:,.2f} USD "
            f"cost {n * r.move_cost_usd_per_rack:,.2f} USD",
            r.move_cost_usd,
            n * r.move_cost_usd_per_rack,
            "USD",
        )
    crf = scenario.policy.cost.capital_recovery_factor
    if not math.isclose(r.capital_recovery_factor, crf, rel_tol=1e-9):
        add(
            "REPLAN_MOVES",
            "replan",
            f"capital_recovery_factor is {r.capital_recovery_factor:.9g}, the scenario's is {crf:.9g}",
            r.capital_recovery_factor,
            crf,
            "per year",
        )
    sites = {s.id for s in scenario.topology.sites}
    for sid in r.frozen_sites:
        if sid not in sites:
            add("REPLAN_FROZEN", f"site:{sid}", f"frozen site '{sid}' is not a site of the scenario")
    if previous is None:
        return found
    digest = plan_digest(previous)
    if digest != r.previous_plan_digest or previous.scenario_digest != r.previous_scenario_digest:
        add(
            "REPLAN_PREVIOUS",
            "replan",
            f"the plan re-plans from {r.previous_plan_digest} (scenario {r.previous_scenario_digest}), "
            f"but the previous plan given is {digest} (scenario {previous.scenario_digest})",
        )
    before, now = _racks(previous), _racks(plan)
    expected = {key: n - now.get(key, 0) for key, n in before.items() if n - now.get(key, 0) > 0}
    reported: dict[tuple[str, str, str], int] = defaultdict(int)
    for m in r.moves:
        reported[(m.tenant, m.sku, m.from_site)] += m.racks
    for key in sorted(set(expected) | set(reported)):
        want, got = expected.get(key, 0), reported.get(key, 0)
        if want != got:
            t, k, s = key
            add(
                "REPLAN_MOVES",
                f"tenant:{t}/sku:{k}/site:{s}",
                f"the plan reports {got:,} racks of tenant '{t}''s '{k}' moved away from '{s}'; the previous plan "
                f"had {before.get(key, 0):,} there and this one has {now.get(key, 0):,}, so {want:,} moved",
                got,
                want,
                "racks",
            )
    kept = sum(before.values()) - sum(expected.values())
    if kept != r.racks_kept:
        add(
            "REPLAN_MOVES",
            "replan",
            f"racks_kept is {r.racks_kept:,}, recomputed {kept:,}",
            r.racks_kept,
            kept,
            "racks",
        )
    frozen = set(r.frozen_sites)
    for (t, k, s), n in sorted(before.items()):
        if s in frozen and now.get((t, k, s), 0) < n:
            add(
                "REPLAN_FROZEN",
                f"tenant:{t}/sku:{k}/site:{s}",
                f"site '{s}' is frozen, but tenant '{t}''s '{k}' racks there fell from {n:,} to {now.get((t, k, s), 0):,}",
                now.get((t, k, s), 0),
                n,
                "racks",
            )
    return found
