"""The critical path to energisation: its definitions, shared by the solvers and the verifier.

A rollout plan says, per site it uses, what held the site back in every quarter between the
delivery of its first GPUs and the quarter it reaches its final rack count
(:class:`placer.plan.SiteCriticalPath`). Both sides compute the per-quarter facts on their own
(``solvers/critical_path.py`` from the engine's indexed tables, ``placer/verify_critical_path.py``
from the scenario and the plan); what they must agree on is defined here, once:

* **waiting GPUs**: in quarter q, a (tenant, SKU) with racks still to come at the site *waits* when
  some of its delivered GPUs are not live anywhere (one more of its racks could go live here as far
  as deliveries go);
* **what is used and available**: IT, liquid and air MW at the site against its capacities in force
  (stages, upgrades, the plan's options); its facility MW against its feeds' N-1 limit (plus feed
  options and on-site supply); at a substation, the facility MW of the sites feeding from it in
  their feed shares against its headroom plus those sites' on-site supply in the same shares; the
  racks gone live at the site in the quarter against its build rate;
* **binds** (:func:`blocks`): a limit binds for a waiting (tenant, SKU) when one more of its racks
  would exceed it beyond the verifier's slack (``placer.contract.limit_slack``); a site's binding
  limits in q are the union over its waiting pairs when every one of them is blocked by some limit,
  ``none`` when one of them is blocked by nothing (the schedule waits by choice), and
  ``deliveries`` when nothing waits;
* **the grid** (:func:`grid_at_limit`): where the waiting pairs blocked by no site limit have racks
  of at least ``f`` facility MW (the least of them), the quarter's grid report (``schedule[q].grid``;
  the last quarter's is ``plan.grid``) is read: when a monitored line (base case against its limit,
  or after an outage against its no-harm limit) has less than ``f`` MW left, the site's binding is
  ``grid_line`` (the most loaded such line, and its outage) instead of ``none``, listed with the
  site limits that block the other waiting pairs (every waiting rack is then blocked by something). A DC transfer of
  ``f`` MW moves at most ``f`` on any line, so the rule names a line that could keep the next rack
  out, and never says ``none`` while one could; it does not test that this line does (that depends on
  where the rack's power would come from, which the plan does not fix: no PTDF). Both sides read the
  same report (whose every figure the verifier recomputes with its own DC flow, GRID_* codes); the
  lift is each side's own: the first later quarter the line's rating in force (the emergency rating
  after an outage) exceeds the limit of q, with the ``rollout.upgrades`` entries on that line then;
* **lifted** (:func:`rises`): a capacity is lifted in the first later quarter it exceeds its value
  in q beyond the slack; the references to what takes effect then are the strings of the ``*_ref``
  functions;
* **the critical limit** of a quarter (:func:`critical_first`): of the binding limits, the one
  lifted latest (lifting any other alone would not have let a rack in), ties in
  :data:`LIMIT_ORDER`;
* **the path** (:func:`path_steps`, :func:`path_text`): consecutive quarters with the same critical
  limit, element (and outage) and lift form one step (quarters awaiting deliveries: one step whatever the lift,
  ended by the last one's); the words are :func:`step_text`'s.

Complexity: every function is O(size of its arguments).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

from placer.contract import limit_slack
from placer.plan import Binding, GridReport, HeldBack, LimitKind, PathStep

# The order binding limits are listed in (after the critical one), and ties are broken in: the
# schema's own order of the kinds (placer.plan.LimitKind), stated once there.
LIMIT_ORDER: tuple[str, ...] = get_args(LimitKind)
# Limits that are capacities in MW, lifted when they rise.
CAPACITY_LIMITS = frozenset(
    {"it_capacity", "liquid_cooling", "air_cooling", "feed_n1", "substation_headroom", "grid_line"}
)


def grid_at_limit(report: GridReport | None, need_mw: float) -> tuple[str, str | None, float, float] | None:
    """The quarter's line that one more rack of ``need_mw`` facility MW could push over its limit:
    of the monitored lines in the base case (``report.lines``, against their limit) and after an
    outage (``report.worst_contingencies``, the highest listed, against the no-harm limit), those
    with :func:`blocks` ``(|flow|, need_mw, limit)``, the most loaded (of equal loadings the first
    listed, base case first). Returns (line, outage or None for the base case, |flow| MW, limit MW),
    or None (no report, or every line has room for the rack). A DC transfer of ``need_mw`` moves at
    most that much on any line, before or after an outage, so a line not returned cannot keep the
    rack out; one returned may (whether it does depends on where the rack's power comes from). O(L + K)."""
    if report is None:
        return None
    best: tuple[float, str, str | None, float, float] | None = None
    entries: list[tuple[float, str, str | None, float, float]] = [
        (lf.loading_pct, lf.line, None, abs(lf.flow_mw), lf.limit_mw) for lf in report.lines
    ]
    entries += [(c.loading_pct, c.line, c.outage, abs(c.flow_mw), c.limit_mw) for c in report.worst_contingencies]
    for e in entries:
        if blocks(e[3], need_mw, e[4]) and (best is None or e[0] > best[0]):
            best = e
    return None if best is None else (best[1], best[2], best[3], best[4])


def blocks(used: float, need: float, limit: float) -> bool:
    """One more rack needing ``need`` on top of ``used`` would break ``limit`` (the verifier's slack). O(1)."""
    return used + need > limit + limit_slack(limit)


def rises(before: float, after: float) -> bool:
    """A capacity of ``before`` MW is lifted when it becomes ``after``. O(1)."""
    return after > before + limit_slack(before)


def stage_ref(index: int) -> str:
    return f"rollout.site_stages[{index}]"


def grid_binding(at_limit: tuple[str, str | None, float, float], lift: tuple[str, float, list[str]] | None) -> Binding:
    """The ``grid_line`` binding of :func:`grid_at_limit`'s line and its lift (quarter, rating MW,
    references), if any. O(1)."""
    line, outage, flow, limit = at_limit
    return Binding(
        limit="grid_line",
        element=line,
        outage=outage,
        used=flow,
        available=limit,
        unit="MW",
        lifted_in=None if lift is None else lift[0],
        lifted_to=None if lift is None else lift[1],
        lifted_by=[] if lift is None else lift[2],
    )


def upgrade_ref(index: int) -> str:
    return f"rollout.upgrades[{index}]"


def option_ref(option_id: str, earliest: str) -> str:
    return f"option {option_id} (earliest {earliest})"


def go_live_ref(index: int) -> str:
    return f"rollout.go_live[{index}]"


def delivery_ref(index: int) -> str:
    return f"rollout.deliveries[{index}]"


def _lift_rank(b: Binding, q: int, rank: dict[str, int], n_periods: int) -> int:
    """When the binding stops holding the site back: its lift's quarter; a capacity never lifted or
    awaited deliveries that never come count as the end of the rollout, a build rate as the next
    quarter, 'none' as now."""
    if b.limit == "none":
        return -1
    if b.limit == "build_rate":
        return q + 1
    return rank[b.lifted_in] if b.lifted_in is not None else n_periods


def critical_first(bindings: Sequence[Binding], q: int, periods: Sequence[str]) -> list[Binding]:
    """The bindings of quarter ``q`` in their reported order: the critical one (lifted latest) first,
    then by :data:`LIMIT_ORDER` and element. O(n log n)."""
    rank = {p: i for i, p in enumerate(periods)}
    return sorted(
        bindings,
        key=lambda b: (-_lift_rank(b, q, rank, len(periods)), LIMIT_ORDER.index(b.limit), b.element),
    )


def _num(x: float | None) -> str:
    return "?" if x is None else f"{x:,.6g}"


def step_text(step: PathStep) -> str:
    """One step in the planner's words, e.g. 'IT capacity 55 MW (2026Q3-2027Q2), lifted to 100 MW in
    2027Q3 by rollout.site_stages[4]'. O(len(lifted_by))."""
    span = step.first_period if step.first_period == step.last_period else f"{step.first_period}-{step.last_period}"
    what = {
        "it_capacity": f"IT capacity {_num(step.available)} MW",
        "liquid_cooling": f"liquid cooling {_num(step.available)} MW",
        "air_cooling": f"air cooling {_num(step.available)} MW",
        "feed_n1": f"feed limit {_num(step.available)} MW (N-1)",
        "substation_headroom": f"substation {step.element} headroom {_num(step.available)} MW",
        "grid_line": f"no site limit binds; grid line {step.element} within a rack of its {_num(step.available)} MW "
        "limit " + (f"after losing {step.outage}" if step.outage else "in the base case"),
        "build_rate": f"build rate {_num(step.available)} racks/quarter",
        "go_live": f"{step.element}'s go-live window",
        "deliveries": "awaiting deliveries",
        "none": "no site limit binds (the schedule waits)",
    }[step.limit]
    text = f"{what} ({span})"
    if step.lifted_in is not None:
        by = " + ".join(step.lifted_by) if step.lifted_by else "its effective values"
        if step.limit in CAPACITY_LIMITS:
            text += f", lifted to {_num(step.lifted_to)} MW in {step.lifted_in} by {by}"
        elif step.limit == "deliveries":
            text += f", until {step.lifted_in}"  # which deliveries: the step's lifted_by
        else:
            text += f", until {step.lifted_in} ({by})"
    return text


def path_steps(held_back: Sequence[HeldBack]) -> list[PathStep]:
    """The held-back quarters (in order) chained by their critical limit: one step per run of quarters
    with the same critical limit, element and lift. O(H)."""
    steps: list[PathStep] = []
    for h in held_back:
        if not h.binding:
            continue
        b = h.binding[0]
        last = steps[-1] if steps else None
        if (
            last is not None
            and (last.limit, last.element, last.outage) == (b.limit, b.element, b.outage)
            and (last.lifted_in == b.lifted_in or b.limit == "deliveries")
        ):
            # a run of quarters awaiting deliveries is one step, until the delivery that ends it
            last.last_period = h.period
            last.lifted_in, last.lifted_by = b.lifted_in, list(b.lifted_by)
            last.text = step_text(last)
            continue
        step = PathStep(
            limit=b.limit,
            element=b.element,
            outage=b.outage,
            first_period=h.period,
            last_period=h.period,
            available=b.available,
            unit=b.unit,
            lifted_in=b.lifted_in,
            lifted_to=b.lifted_to,
            lifted_by=list(b.lifted_by),
            text="",
        )
        step.text = step_text(step)
        steps.append(step)
    return steps


def path_text(site: str, steps: Sequence[PathStep], first_live: str, full: str) -> str:
    """The site's path in one line: '<site>: <step> -> <step> -> full <Q>'. O(len(steps))."""
    if not steps:
        return f"{site}: first racks live {first_live}, full {full}, never held back"
    return f"{site}: " + " -> ".join(s.text for s in steps) + f" -> full {full}"


__all__ = [
    "CAPACITY_LIMITS",
    "LIMIT_ORDER",
    "blocks",
    "critical_first",
    "delivery_ref",
    "go_live_ref",
    "grid_at_limit",
    "grid_binding",
    "option_ref",
    "path_steps",
    "path_text",
    "rises",
    "stage_ref",
    "step_text",
    "upgrade_ref",
]
