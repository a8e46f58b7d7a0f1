"""What changed between two plans: racks moved, cost by term, sites opened or closed, power and stranding.

:func:`diff_plans` compares two :class:`~placer.plan.Plan` objects (no scenario needed: both plans
carry every figure) and returns a :class:`PlanDiff`; :func:`print_diff` renders it as rich tables and
``PlanDiff.model_dump_json`` gives the ``--json`` form. Deltas are always B minus A.

Units are kept apart, never summed across: ``cost_breakdown`` is annual money (USD per year; for a
rollout it is the final build-out's run rate), ``npv`` is a rollout's present value (USD). The
objectives are compared only when both plans state them in the same unit; otherwise both values are
listed with no delta and a note says why. NPV terms are compared only when both plans are rollouts
discounted alike (same rate, quarter length and first quarter).

Complexity: O(A + S + P·K) for A assignments, S sites and P periods of K rack keys.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from placer.plan import Plan

# Money and power below these are the plans' own rounding, not a change.
_USD_EPS = 0.5
_MW_EPS = 1e-6


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Delta(_Model):
    """One figure in both plans; ``delta`` is B - A, None when either side lacks it."""

    a: float | None
    b: float | None
    delta: float | None

    @classmethod
    def of(cls, a: float | None, b: float | None) -> Delta:
        return cls(a=a, b=b, delta=None if a is None or b is None else b - a)


class RackChange(_Model):
    """Racks of one (tenant, SKU, site) that differ between the plans."""

    tenant: str
    sku: str
    site: str
    racks_a: int
    racks_b: int
    racks_delta: int
    gpus_a: int
    gpus_b: int
    gpus_delta: int


class TenantMoves(_Model):
    """Per tenant: racks that appear at a site in B (added) and leave a site of A (removed)."""

    tenant: str
    racks_added: int
    racks_removed: int
    gpus_a: int
    gpus_b: int
    sites_a: list[str]
    sites_b: list[str]


class SiteChange(_Model):
    site: str
    change: Literal["opened", "closed", "kept"]
    gpus: Delta
    it_power_mw: Delta
    facility_power_mw: Delta


class TermDelta(_Model):
    name: str
    a: float | None = Field(description="None: the term is absent from plan A")
    b: float | None
    delta: float = Field(description="B - A, an absent term counting as 0")


class PeriodDelta(_Model):
    period: str
    gpus_live: Delta
    gpus_stranded: Delta


class InvestmentChange(_Model):
    """A power option built in either plan: its quarter in each (None: not built there)."""

    option: str
    period_a: str | None
    period_b: str | None
    change: Literal["added", "dropped", "moved", "same"]


class PlanDiff(_Model):
    """B compared with A. Money: ``cost_per_year_usd`` in USD/yr, ``npv_usd`` in USD, never mixed."""

    plan_a: str = Field(description="label of plan A (its file)")
    plan_b: str
    scenario_a: str
    scenario_b: str
    same_scenario: bool = Field(description="both plans were solved for the same scenario digest")
    objective_unit_a: str
    objective_unit_b: str
    objective: Delta = Field(description="delta None when the two objective units differ")
    racks_moved: int = Field(description="racks placed at a different (tenant, SKU, site) in B: sum of the additions")
    racks_removed: int
    changes: list[RackChange]
    tenants: list[TenantMoves]
    sites_opened: list[str]
    sites_closed: list[str]
    sites: list[SiteChange]
    cost_per_year_usd: list[TermDelta] = Field(
        description="annual cost_breakdown, USD per year (a rollout's: its final build-out's run rate)"
    )
    cost_per_year_total_usd: Delta
    npv_usd: list[TermDelta] | None = Field(None, description="rollouts discounted alike: NPV by term, USD")
    npv_total_usd: Delta | None = None
    it_power_mw: Delta
    facility_power_mw: Delta
    gpus_placed: Delta
    stranded_gpu_quarters: Delta
    peak_stranded_gpus: Delta
    periods: list[PeriodDelta] = Field(default_factory=list, description="quarters both rollouts share, in A's order")
    investments: list[InvestmentChange] = Field(
        default_factory=list, description="power options built in either plan, and when"
    )
    notes: list[str] = Field(default_factory=list)


def _rollout_label(plan: Plan) -> str:
    return "rollout" if plan.schedule else "single period"


def diff_plans(a: Plan, b: Plan, *, label_a: str = "A", label_b: str = "B") -> PlanDiff:
    """Compare plan B with plan A (deltas are B - A). Pure; O(A + S + P·K)."""
    notes: list[str] = []
    same = a.scenario_digest == b.scenario_digest
    if not same:
        notes.append(
            f"the plans were solved for different scenarios ({a.scenario} {a.scenario_digest[:15]}…, "
            f"{b.scenario} {b.scenario_digest[:15]}…): a what-if comparison"
        )

    racks: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for side, plan in ((0, a), (1, b)):
        for asg in plan.assignments:
            row = racks[(asg.tenant, asg.sku, asg.site)]
            row[side] += asg.racks
            row[2 + side] += asg.gpus
    changes = [
        RackChange(
            tenant=t,
            sku=k,
            site=s,
            racks_a=ra,
            racks_b=rb,
            racks_delta=rb - ra,
            gpus_a=ga,
            gpus_b=gb,
            gpus_delta=gb - ga,
        )
        for (t, k, s), (ra, rb, ga, gb) in sorted(racks.items())
        if ra != rb
    ]
    tenants = []
    for tenant in sorted({t for t, _, _ in racks}):
        rows = [(key, v) for key, v in racks.items() if key[0] == tenant]
        tenants.append(
            TenantMoves(
                tenant=tenant,
                racks_added=sum(max(0, v[1] - v[0]) for _, v in rows),
                racks_removed=sum(max(0, v[0] - v[1]) for _, v in rows),
                gpus_a=sum(v[2] for _, v in rows),
                gpus_b=sum(v[3] for _, v in rows),
                sites_a=sorted({key[2] for key, v in rows if v[0] > 0}),
                sites_b=sorted({key[2] for key, v in rows if v[1] > 0}),
            )
        )

    load_a = {sl.site: sl for sl in a.sites if sl.racks > 0}
    load_b = {sl.site: sl for sl in b.sites if sl.racks > 0}
    sites = []
    for site in sorted(set(load_a) | set(load_b)):
        la, lb = load_a.get(site), load_b.get(site)
        change: Literal["opened", "closed", "kept"] = "kept" if la and lb else ("opened" if lb else "closed")
        sites.append(
            SiteChange(
                site=site,
                change=change,
                gpus=Delta.of(la.gpus if la else 0, lb.gpus if lb else 0),
                it_power_mw=Delta.of(la.it_power_mw if la else 0.0, lb.it_power_mw if lb else 0.0),
                facility_power_mw=Delta.of(la.facility_power_mw if la else 0.0, lb.facility_power_mw if lb else 0.0),
            )
        )

    cost = _terms(
        {c.name: c.usd_per_year for c in a.cost_breakdown}, {c.name: c.usd_per_year for c in b.cost_breakdown}
    )
    if bool(a.schedule) != bool(b.schedule):
        notes.append(
            f"plan A is a {_rollout_label(a)} plan and plan B a {_rollout_label(b)} plan: cost per year compares "
            "a placement's annual cost with a rollout's final build-out run rate"
        )
    elif a.schedule:
        notes.append("cost per year of a rollout is its final build-out's run rate, not part of its NPV")

    su_a, su_b = a.summary, b.summary
    if su_a.objective_unit == su_b.objective_unit:
        objective = Delta.of(su_a.objective, su_b.objective)
    else:
        objective = Delta(a=su_a.objective, b=su_b.objective, delta=None)
        notes.append(
            f"objectives are in different units ({su_a.objective_unit} vs {su_b.objective_unit}): "
            "not subtracted; compare cost per year (both USD/yr) instead"
        )

    npv_terms, npv_total = None, None
    if a.npv is not None and b.npv is not None:
        same_basis = (
            math.isclose(a.npv.discount_rate_per_year, b.npv.discount_rate_per_year)
            and math.isclose(a.npv.quarter_length_years, b.npv.quarter_length_years)
            and bool(a.npv.periods)
            and bool(b.npv.periods)
            and a.npv.periods[0].period == b.npv.periods[0].period
        )
        if same_basis:
            npv_terms = _terms({t.name: t.usd for t in a.npv.terms}, {t.name: t.usd for t in b.npv.terms})
            npv_total = Delta.of(a.npv.total_usd, b.npv.total_usd)
        else:
            notes.append(
                "the two NPVs are discounted differently (rate, quarter length or first quarter): "
                "their terms are not compared"
            )

    periods: list[PeriodDelta] = []
    if a.schedule and b.schedule:
        by_b = {p.period: p for p in b.schedule}
        for pa in a.schedule:
            pb = by_b.get(pa.period)
            if pb is not None:
                periods.append(
                    PeriodDelta(
                        period=pa.period,
                        gpus_live=Delta.of(pa.gpus_live, pb.gpus_live),
                        gpus_stranded=Delta.of(pa.gpus_stranded, pb.gpus_stranded),
                    )
                )

    built_a: dict[str, str] = {}
    for inv in a.investments or []:
        built_a.setdefault(inv.option, inv.period)
    built_b: dict[str, str] = {}
    for inv in b.investments or []:
        built_b.setdefault(inv.option, inv.period)
    investments = []
    for option in list(built_a) + [o for o in built_b if o not in built_a]:
        qa, qb = built_a.get(option), built_b.get(option)
        moved: Literal["added", "dropped", "moved", "same"] = (
            "added" if qa is None else "dropped" if qb is None else "same" if qa == qb else "moved"
        )
        investments.append(InvestmentChange(option=option, period_a=qa, period_b=qb, change=moved))

    def peak(plan: Plan) -> float | None:
        return max((p.gpus_stranded for p in plan.schedule), default=0) if plan.schedule else None

    added = sum(max(0, c.racks_delta) for c in changes)
    removed = sum(max(0, -c.racks_delta) for c in changes)
    return PlanDiff(
        plan_a=label_a,
        plan_b=label_b,
        scenario_a=a.scenario,
        scenario_b=b.scenario,
        same_scenario=same,
        objective_unit_a=su_a.objective_unit,
        objective_unit_b=su_b.objective_unit,
        objective=objective,
        racks_moved=added,
        racks_removed=removed,
        changes=changes,
        tenants=tenants,
        sites_opened=[s.site for s in sites if s.change == "opened"],
        sites_closed=[s.site for s in sites if s.change == "closed"],
        sites=sites,
        cost_per_year_usd=cost,
        cost_per_year_total_usd=Delta.of(
            math.fsum(c.usd_per_year for c in a.cost_breakdown), math.fsum(c.usd_per_year for c in b.cost_breakdown)
        ),
        npv_usd=npv_terms,
        npv_total_usd=npv_total,
        it_power_mw=Delta.of(su_a.it_power_mw, su_b.it_power_mw),
        facility_power_mw=Delta.of(su_a.facility_power_mw, su_b.facility_power_mw),
        gpus_placed=Delta.of(su_a.gpus_placed, su_b.gpus_placed),
        stranded_gpu_quarters=Delta.of(su_a.stranded_gpu_quarters, su_b.stranded_gpu_quarters),
        peak_stranded_gpus=Delta.of(peak(a), peak(b)),
        periods=periods,
        investments=investments,
        notes=notes,
    )


def _terms(a: dict[str, float], b: dict[str, float]) -> list[TermDelta]:
    names = list(a) + [n for n in b if n not in a]
    return [TermDelta(name=n, a=a.get(n), b=b.get(n), delta=b.get(n, 0.0) - a.get(n, 0.0)) for n in names]


# --------------------------------------------------------------------------- rendering


def _musd(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    if signed and abs(x) < _USD_EPS:
        return "0"
    sign = "-" if x < 0 else ("+" if signed else "")
    if abs(x) < 50_000:  # below $0.1M: thousands, so a small change does not read "$0.0M"
        return f"{sign}${abs(x) / 1e3:,.1f}k"
    return f"{sign}${abs(x) / 1e6:,.1f}M"


def _num(x: float | None, fmt: str = ",.0f", signed: bool = False) -> str:
    if x is None:
        return "-"
    text = format(x, fmt)
    if not text.strip("-0.,"):  # rounds to zero: no sign ("-0.0" is float noise)
        return text.lstrip("-")
    return f"+{text}" if signed and x > 0 else text


def print_diff(console: Console, d: PlanDiff) -> None:
    """The diff as rich tables (every id escaped). O(size of the diff)."""
    console.print(
        f"[bold]A[/bold] {escape(d.plan_a)} ({escape(d.scenario_a)})  →  [bold]B[/bold] {escape(d.plan_b)} "
        f"({escape(d.scenario_b)}); deltas are B − A"
    )
    unit = {"usd_per_year": "USD/yr", "usd": "USD (NPV)"}
    o = d.objective
    if o.delta is None:
        console.print(
            f"objective: A {_musd(o.a)} {unit[d.objective_unit_a]}, B {_musd(o.b)} {unit[d.objective_unit_b]} "
            "(different units: no delta)"
        )
    else:
        console.print(
            f"objective ({unit[d.objective_unit_a]}): A {_musd(o.a)}, B {_musd(o.b)}, Δ {_musd(o.delta, True)}"
        )

    summary = Table(title="Power and stranding")
    for col in ("figure", "A", "B", "Δ"):
        summary.add_column(col, justify="left" if col == "figure" else "right")
    summary.add_row("GPUs placed", _num(d.gpus_placed.a), _num(d.gpus_placed.b), _num(d.gpus_placed.delta, signed=True))
    for name, delta in (("IT power MW", d.it_power_mw), ("facility power MW", d.facility_power_mw)):
        summary.add_row(name, _num(delta.a, ".1f"), _num(delta.b, ".1f"), _num(delta.delta, ".1f", signed=True))
    summary.add_row(
        "stranded GPU-quarters",
        _num(d.stranded_gpu_quarters.a),
        _num(d.stranded_gpu_quarters.b),
        _num(d.stranded_gpu_quarters.delta, signed=True),
    )
    if d.peak_stranded_gpus.a is not None or d.peak_stranded_gpus.b is not None:
        peak = d.peak_stranded_gpus
        summary.add_row("peak stranded GPUs", _num(peak.a), _num(peak.b), _num(peak.delta, signed=True))
    console.print(summary)

    tenants = Table(title=f"Racks moved: {d.racks_moved:,} placed anew, {d.racks_removed:,} taken away")
    for col in ("tenant", "racks added", "racks removed", "GPUs A", "GPUs B", "sites A", "sites B"):
        tenants.add_column(col, justify="right" if col.startswith(("racks", "GPUs")) else "left")
    for t in d.tenants:
        tenants.add_row(
            escape(t.tenant),
            f"{t.racks_added:,}",
            f"{t.racks_removed:,}",
            f"{t.gpus_a:,}",
            f"{t.gpus_b:,}",
            escape(", ".join(t.sites_a)),
            escape(", ".join(t.sites_b)),
        )
    console.print(tenants)
    if d.changes:
        moves = Table(title="Changed placements (tenant, SKU, site)")
        for col in ("tenant", "SKU", "site", "racks A", "racks B", "Δ racks", "Δ GPUs"):
            moves.add_column(col, justify="left" if col in ("tenant", "SKU", "site") else "right")
        for c in d.changes:
            moves.add_row(
                escape(c.tenant),
                escape(c.sku),
                escape(c.site),
                f"{c.racks_a:,}",
                f"{c.racks_b:,}",
                _num(c.racks_delta, signed=True),
                _num(c.gpus_delta, signed=True),
            )
        console.print(moves)

    sites = Table(
        title=f"Sites: {len(d.sites_opened)} opened ({escape(', '.join(d.sites_opened)) or '-'}), "
        f"{len(d.sites_closed)} closed ({escape(', '.join(d.sites_closed)) or '-'})"
    )
    for col in ("site", "change", "GPUs A", "GPUs B", "facility MW A", "facility MW B", "Δ facility MW"):
        sites.add_column(col, justify="left" if col in ("site", "change") else "right")
    for s in d.sites:
        if s.change == "kept" and s.gpus.delta == 0 and abs(s.facility_power_mw.delta or 0.0) < _MW_EPS:
            continue
        sites.add_row(
            escape(s.site),
            s.change,
            _num(s.gpus.a),
            _num(s.gpus.b),
            _num(s.facility_power_mw.a, ".1f"),
            _num(s.facility_power_mw.b, ".1f"),
            _num(s.facility_power_mw.delta, ".1f", signed=True),
        )
    console.print(sites)

    _print_terms(console, "Cost per year by term (USD/yr)", d.cost_per_year_usd, d.cost_per_year_total_usd)
    if d.npv_usd is not None and d.npv_total_usd is not None:
        _print_terms(console, "NPV by term (USD, present value)", d.npv_usd, d.npv_total_usd)
    if d.periods and any(p.gpus_stranded.delta or p.gpus_live.delta for p in d.periods):
        quarters = Table(title="Rollout by quarter")
        for col in ("quarter", "live A", "live B", "stranded A", "stranded B", "Δ stranded"):
            quarters.add_column(col, justify="left" if col == "quarter" else "right")
        for p in d.periods:
            quarters.add_row(
                p.period,
                _num(p.gpus_live.a),
                _num(p.gpus_live.b),
                _num(p.gpus_stranded.a),
                _num(p.gpus_stranded.b),
                _num(p.gpus_stranded.delta, signed=True),
            )
        console.print(quarters)
    changed = [i for i in d.investments if i.change != "same"]
    if changed:
        inv = Table(title="Power options built")
        for col in ("option", "A", "B", "change"):
            inv.add_column(col)
        for i in changed:
            inv.add_row(escape(i.option), i.period_a or "-", i.period_b or "-", i.change)
        console.print(inv)
    for note in d.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")


def _print_terms(console: Console, title: str, terms: list[TermDelta], total: Delta) -> None:
    table = Table(title=title)
    for col in ("term", "A", "B", "Δ"):
        table.add_column(col, justify="left" if col == "term" else "right")
    for t in terms:
        table.add_row(escape(t.name), _musd(t.a), _musd(t.b), _musd(t.delta, True))
    table.add_row("[bold]total[/bold]", _musd(total.a), _musd(total.b), _musd(total.delta, True))
    console.print(table)
