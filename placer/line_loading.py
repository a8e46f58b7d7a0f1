"""Every line's loading in a plan: base case and worst single outage (N-1), for exports and maps.

The plan's grid report lists the base flow of each monitored line (``grid.lines``) but only the
highest post-outage loadings (``grid.worst_contingencies``, ten entries). A map or an export needs
each line's own worst case, so :func:`line_loadings` recomputes the post-outage flows from the
plan's bus injections (``grid.injections_mw``) with the verifier's DC power flow
(:class:`placer.grid_check.OutageScreen`: one sparse LU, a rank-one update per outage). Post-outage
loading is measured against the line's emergency rating (its rating when none is given); an outage
that islands buses (a bridge) is skipped, as the solver and the verifier skip it. A rollout's grid
report is of its final build-out, so its ratings are those in service in the last quarter (upgrades
applied, as the verifier applies them).

Complexity: O(E (fill + E)) time and O(V·B + E·B) memory for E lines, V buses, blocks of B outages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placer.plan import Plan
from placer.scenario import Scenario


@dataclass(frozen=True)
class LineLoading:
    """One line: its ends, ratings, base flow and loading, worst post-outage flow and loading."""

    line: str
    from_node: str
    to_node: str
    rating_mw: float
    emergency_rating_mw: float
    flow_mw: float  # base case, positive from the 'from' end
    loading_pct: float  # base case, against the plan's base limit (monitored) or the rating
    monitored: bool  # listed in the plan's grid.lines
    n1_flow_mw: float | None  # worst post-outage flow (None: no outage to screen)
    n1_loading_pct: float | None  # against the emergency rating
    n1_outage: str | None  # the line whose loss gives it


def line_loadings(scenario: Scenario, plan: Plan) -> list[LineLoading]:
    """Each line of ``scenario`` with its loadings in ``plan``, in scenario order; [] without a grid
    report (no lines, or a plan without ``grid``)."""
    from placer.grid_check import OutageScreen
    from placer.verify_options import built_options
    from placer.verify_schedule import with_final_capacities

    # a rollout's grid report is of its final build-out: the line ratings its upgrades leave in service
    scenario = with_final_capacities(scenario, built_options(scenario, plan))
    lines = scenario.topology.edges_of_kind("line")
    if plan.grid is None or not lines:
        return []
    screen = OutageScreen(scenario)
    known = set(screen.bus_ids)
    p = screen.vector({bus: mw for bus, mw in plan.grid.injections_mw.items() if bus in known})
    base = screen.flows(p)[:, 0]
    worst = np.full(screen.n_line, -1.0)
    worst_flow = np.zeros(screen.n_line)
    worst_at = np.full(screen.n_line, -1, dtype=np.int64)
    emergency = np.array([ln.emergency_rating_mw or ln.rating_mw for ln in lines])
    index = screen.line_index
    order = np.array([index[ln.id] for ln in lines])  # scenario order -> screen order
    limit = np.empty(screen.n_line)
    limit[order] = emergency
    if plan.grid.security == "n-1":
        for ks, post in screen.post_outage(p):
            flows = post[:, :, 0]  # lines x outages
            ratio = np.abs(flows) / limit[:, None]
            ratio[ks, np.arange(ks.size)] = -1.0  # a line's own outage is not its loading
            j = ratio.argmax(axis=1)
            best = ratio[np.arange(screen.n_line), j]
            better = best > worst
            worst[better] = best[better]
            worst_flow[better] = flows[np.flatnonzero(better), j[better]]
            worst_at[better] = ks[j[better]]
    listed = {lf.line: lf for lf in plan.grid.lines}
    out = []
    for ln, emerg in zip(lines, emergency):
        i = index[ln.id]
        lf = listed.get(ln.id)
        screened = worst_at[i] >= 0
        out.append(
            LineLoading(
                line=ln.id,
                from_node=ln.from_node,
                to_node=ln.to_node,
                rating_mw=ln.rating_mw,
                emergency_rating_mw=float(emerg),
                flow_mw=lf.flow_mw if lf else float(base[i]),
                loading_pct=lf.loading_pct if lf else float(100 * abs(base[i]) / ln.rating_mw),
                monitored=lf is not None,
                n1_flow_mw=float(worst_flow[i]) if screened else None,
                n1_loading_pct=float(100 * worst[i]) if screened else None,
                n1_outage=screen.line_ids[int(worst_at[i])] if screened else None,
            )
        )
    return out
