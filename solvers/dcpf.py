"""DC power flow for the solvers: bus model, PTDF, LODF, bridges, pre-existing OPF, N-1 screen.

Model (the convention shared with the verifier, :mod:`placer.grid_check`):

* buses = every substation and plant of the topology, in node order; branches = the
  ``line`` edges, each its own branch (parallel lines allowed);
* susceptance ``b = 1/x`` with ``x`` in per unit on ``policy.base_mva`` (negative for series
  compensation); injections and flows in MW (``P_pu = MW / base_mva``; the base cancels out
  of PTDF and LODF);
* phase shifters as in MATPOWER's makeBdc: line flow ``b (theta_f - theta_t - phi)`` with
  ``B theta = P + S``, S = ``b phi`` at the from bus and ``-b phi`` at the to bus; so flows
  are ``PTDF P + flow_offset_mw`` (the offset is what the shifters alone drive), and a
  post-outage flow is still ``f_l + LODF[l,k] f_k`` with the shift-inclusive f (the lost
  line's shift goes with it: its flow is what LODF redistributes);
* solvability: a component whose reduced B is singular, or (N-1) an outage that leaves it
  singular, is refused with an InputError naming the buses and lines -- only negative
  susceptances make either possible;
* one slack bus per connected component: the plant with the largest ``capacity_mw``
  (ties to the lowest node index), else the lowest-index bus. PTDF columns are "inject
  at bus i, withdraw at its component's slack"; for balanced injections the slack choice
  does not change any flow.

Main entry points (all on :class:`GridModel`, built by :meth:`GridModel.from_scenario`):

* :meth:`~GridModel.flows` -- line flows of a bus injection vector (one sparse LU);
* :meth:`~GridModel.ptdf`, :meth:`~GridModel.lodf` -- dense sensitivity matrices;
* :meth:`~GridModel.bridges` -- lines whose outage islands buses (skipped in N-1);
* :meth:`~GridModel.preexisting_state` -- least-cost DC OPF of the existing load with
  plant output in [0, capacity - spare] and base-case limits; falls back to penalised
  overload slack when the limits cannot all hold and reports those overloads as facts;
* :meth:`~GridModel.screen_n1` -- post-outage flows by LODF and the no-harm check
  ``|f_l + LODF[l,k] f_k| <= max(emergency_l, |pre-existing post-outage flow|)``;
* :meth:`~GridModel.new_load_mw` -- site facility MW spread on the feeding substations in
  proportion to feed capacity.

Complexity, V buses, E lines: B and the incidence matrix O(V + E); the sparse LU of the
reduced B is near-linear for grid graphs; PTDF is E right-hand sides through that LU,
O(V E) time and memory; LODF one sparse-dense product, O(E^2) memory; a full N-1 screen
O(E^2). Measured on a shared 2-core box with OPENBLAS_NUM_THREADS=1 (PGLib case1354
imported: 1,666 buses, 2,303 lines): PTDF 0.1 s, LODF 0.1-0.2 s, pre-existing OPF 0.2 s,
N-1 screen 0.02-0.06 s; case118 (137 buses, 205 lines): a few ms each. With OpenBLAS's
default threads competing for the same two cores the PTDF took 0.5-6 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from placer.contract import (
    COND_MAX,
    OUTAGE_DENOMINATOR_MIN,
    OVERLOAD_PENALTY_USD_PER_MWH,  # far above any generation cost: overload only where no dispatch avoids it
    emergency_rating_mw,
    feed_shares,
    plant_cost_usd_per_mwh,
)
from placer.errors import InfeasibleError, InputError
from placer.scenario import Scenario

INVERSE_ITERATIONS = 6  # enough to expose a near-null vector: it grows by 1/|lambda_min| per solve


@dataclass(frozen=True)
class Violation:
    """One line above its limit: in the base case (outage None) or after losing ``outage``."""

    line: str
    flow_mw: float
    limit_mw: float
    outage: str | None = None

    @property
    def loading_pct(self) -> float:
        return 100.0 * abs(self.flow_mw) / self.limit_mw


@dataclass
class PreexistingState:
    """The grid before any data centre: least-cost dispatch of the existing load."""

    dispatch_mw: np.ndarray  # per plant, GridModel.plant_ids order
    injections_mw: np.ndarray  # per bus
    flows_mw: np.ndarray  # per line
    cost_usd_per_h: float
    relaxed: bool  # True when base-case limits could not all hold
    overloads: list[Violation] = field(default_factory=list)  # pre-existing base-case overloads (facts)


@dataclass
class N1Screen:
    """Post-outage flows for every non-bridge outage, and the lines above their limits."""

    outages: np.ndarray  # line indices outaged, one column each of post_flows_mw
    bridges: list[int]  # line indices skipped: their outage islands buses
    post_flows_mw: np.ndarray  # lines x outages
    violations: list[Violation]

    def worst(self, model: GridModel, n: int = 10) -> list[Violation]:
        """The ``n`` highest post-outage loadings against the emergency rating."""
        loading = np.abs(self.post_flows_mw) / model.emergency_mw[:, None]
        order = np.argsort(loading, axis=None)[::-1][:n]
        out = []
        for flat in order:
            l, j = np.unravel_index(flat, loading.shape)
            k = int(self.outages[j])
            flow, limit = float(self.post_flows_mw[l, j]), float(model.emergency_mw[l])
            out.append(Violation(model.line_ids[l], flow, limit, model.line_ids[k]))
        return out


class GridModel:
    """Index arrays of the DC network of a scenario; matrices are computed lazily and cached."""

    def __init__(
        self,
        *,
        bus_ids: list[str],
        load_mw: np.ndarray,
        kv: np.ndarray,
        line_ids: list[str],
        from_bus: np.ndarray,
        to_bus: np.ndarray,
        x_pu: np.ndarray,
        rating_mw: np.ndarray,
        emergency_mw: np.ndarray,
        line_kv: np.ndarray,
        plant_ids: list[str],
        plant_bus: np.ndarray,
        capacity_mw: np.ndarray,
        spare_mw: np.ndarray,
        cost_usd_per_mwh: np.ndarray,
        base_mva: float,
        site_feeds: dict[str, list[tuple[int, float]]] | None = None,
        shift_rad: np.ndarray | None = None,
    ):
        self.bus_ids, self.load_mw, self.kv = list(bus_ids), np.asarray(load_mw, float), np.asarray(kv, float)
        self.bus_index = {b: i for i, b in enumerate(self.bus_ids)}
        self.line_ids = list(line_ids)
        self.line_index = {l: i for i, l in enumerate(self.line_ids)}
        self.from_bus, self.to_bus = np.asarray(from_bus, np.int64), np.asarray(to_bus, np.int64)
        self.x_pu, self.rating_mw = np.asarray(x_pu, float), np.asarray(rating_mw, float)
        self.emergency_mw, self.line_kv = np.asarray(emergency_mw, float), np.asarray(line_kv, float)
        self.plant_ids, self.plant_bus = list(plant_ids), np.asarray(plant_bus, np.int64)
        self.capacity_mw, self.spare_mw = np.asarray(capacity_mw, float), np.asarray(spare_mw, float)
        self.cost_usd_per_mwh = np.asarray(cost_usd_per_mwh, float)
        self.base_mva = float(base_mva)
        self.site_feeds = site_feeds or {}
        self.shift_rad = np.zeros(len(self.line_ids)) if shift_rad is None else np.asarray(shift_rad, float)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_scenario(cls, scenario: Scenario) -> GridModel:
        topo = scenario.topology
        buses = [n for n in topo.nodes if n.kind in ("substation", "plant")]
        index = {n.id: i for i, n in enumerate(buses)}
        lines = topo.edges_of_kind("line")
        plants = [(i, n) for i, n in enumerate(buses) if n.kind == "plant"]
        feeds: dict[str, list[tuple[int, float]]] = {}
        for e in topo.edges_of_kind("feed"):
            site, sub = (e.from_node, e.to_node) if e.to_node in index else (e.to_node, e.from_node)
            feeds.setdefault(site, []).append((index[sub], e.capacity_mw))
        site_feeds = {s: list(zip([b for b, _ in fs], feed_shares([c for _, c in fs]))) for s, fs in feeds.items()}
        return cls(
            bus_ids=[n.id for n in buses],
            load_mw=np.array([n.load_mw if n.kind == "substation" else 0.0 for n in buses]),
            kv=np.array([n.kv if n.kind == "substation" else np.nan for n in buses]),
            line_ids=[e.id for e in lines],
            from_bus=np.array([index[e.from_node] for e in lines], dtype=np.int64),
            to_bus=np.array([index[e.to_node] for e in lines], dtype=np.int64),
            x_pu=np.array([e.reactance_pu for e in lines]),
            rating_mw=np.array([e.rating_mw for e in lines]),
            emergency_mw=np.array([emergency_rating_mw(e) for e in lines]),
            line_kv=np.array([e.kv if e.kv is not None else np.nan for e in lines]),
            plant_ids=[n.id for _, n in plants],
            plant_bus=np.array([i for i, _ in plants], dtype=np.int64),
            capacity_mw=np.array([n.capacity_mw for _, n in plants]),
            spare_mw=np.array([n.spare_mw for _, n in plants]),
            cost_usd_per_mwh=np.array([plant_cost_usd_per_mwh(n) for _, n in plants]),
            base_mva=scenario.policy.base_mva,
            site_feeds=site_feeds,
            shift_rad=np.array([np.deg2rad(e.phase_shift_deg) for e in lines]),
        )

    @property
    def n_bus(self) -> int:
        return len(self.bus_ids)

    @property
    def n_line(self) -> int:
        return len(self.line_ids)

    # ------------------------------------------------------------------ matrices
    @cached_property
    def susceptance(self) -> np.ndarray:
        return 1.0 / self.x_pu

    @cached_property
    def incidence(self) -> sp.csr_matrix:
        """A (lines x buses): +1 at the from bus, -1 at the to bus."""
        rows = np.repeat(np.arange(self.n_line), 2)
        cols = np.column_stack([self.from_bus, self.to_bus]).ravel()
        vals = np.tile([1.0, -1.0], self.n_line)
        return sp.csr_matrix((vals, (rows, cols)), shape=(self.n_line, self.n_bus))

    @cached_property
    def bbus(self) -> sp.csc_matrix:
        """B = A^T diag(b) A, per unit."""
        a = self.incidence
        return (a.T @ sp.diags(self.susceptance) @ a).tocsc()

    @cached_property
    def components(self) -> np.ndarray:
        """Connected-component label per bus."""
        adj = sp.coo_matrix((np.ones(self.n_line), (self.from_bus, self.to_bus)), shape=(self.n_bus,) * 2)
        return connected_components(adj, directed=False)[1]

    @cached_property
    def slack(self) -> np.ndarray:
        """Slack bus per component (index = component label)."""
        cap = np.zeros(self.n_bus)
        np.maximum.at(cap, self.plant_bus, self.capacity_mw)
        labels = self.components
        out = np.empty(labels.max() + 1 if labels.size else 0, dtype=np.int64)
        for c in range(out.size):
            members = np.flatnonzero(labels == c)
            out[c] = members[int(np.argmax(cap[members]))]  # argmax: first (lowest index) on ties
        return out

    @cached_property
    def _reduced(self):
        """Sparse LU of B without the slack rows and columns (block-diagonal over components).

        Raises InputError when a component's block is singular or nearly so (negative
        susceptances can cancel): see :meth:`_singular_block`."""
        keep = np.setdiff1d(np.arange(self.n_bus), self.slack)
        if not keep.size:
            return keep, None
        sub = self.bbus[keep][:, keep].tocsc()
        try:
            lu = splu(sub)
        except RuntimeError:  # SuperLU: "Factor is exactly singular"
            lu = None
        # Only a component with a negative susceptance can be singular (else its reduced B is
        # positive definite), so only those are checked.
        for c in np.unique(self.components[self.from_bus[self.x_pu < 0]]):
            block = np.flatnonzero(self.components[keep] == c)  # positions in keep
            if block.size:
                self._singular_block(sub, lu, keep, block)
        if lu is None:
            raise InputError("the bus susceptance matrix is exactly singular", where="topology (lines)")
        return keep, lu

    def _singular_block(self, sub: sp.csc_matrix, lu, keep: np.ndarray, block: np.ndarray) -> None:
        """Refuse a component whose reduced B is singular: inverse iteration on the (symmetric) block.

        A few solves x <- B^-1 x / |B^-1 x| from a seeded start converge on the eigenvector of
        the smallest |eigenvalue|; 1/|B^-1 x| estimates it, and |B|_1 / that the condition
        number, held to placer.contract.COND_MAX (the verifier estimates it its own way). The
        buses carrying that eigenvector, and the lines at them, are named."""
        x = np.zeros(keep.size)
        detail = "exactly"
        if lu is None:  # exactly singular: B + (tiny) I is not, and its inverse shows the null vector
            shifted = splu((sub + 1e-9 * max(1.0, abs(sub).sum(axis=0).max()) * sp.identity(keep.size)).tocsc())
            x[block] = np.random.default_rng(0).standard_normal(block.size)
            x = np.abs(shifted.solve(shifted.solve(x)))
            x[~np.isin(np.arange(keep.size), block)] = 0.0
        if lu is not None:
            x[block] = np.random.default_rng(0).standard_normal(block.size)
            x /= np.linalg.norm(x)
            growth = 1.0
            for _ in range(INVERSE_ITERATIONS):
                y = lu.solve(x)
                growth = float(np.linalg.norm(y[block]))
                if not np.isfinite(growth) or growth == 0.0:
                    break
                x = y / growth  # B is block-diagonal: y is 0 outside the block
            norm_b = float(abs(sub[block][:, block]).sum(axis=0).max())
            cond = norm_b * growth
            if np.isfinite(cond) and cond <= COND_MAX:
                return
            detail = f"condition number about {cond:.1e}, above {COND_MAX:.0e}"
        weight = np.zeros(self.n_bus)
        weight[keep] = np.abs(x)
        members = keep[block]
        raise InputError(self._singular_message(weight, members, detail), where="topology (lines)")

    def _singular_message(self, weight: np.ndarray, members: np.ndarray, detail: str, outage: int | None = None) -> str:
        """One line naming the buses where ``weight`` (a near-null vector) lives and the lines at them."""
        if np.any(weight[members]):
            buses = members[weight[members] >= 0.1 * weight[members].max()]
            buses = buses[np.argsort(-weight[buses], kind="stable")]
        else:
            buses = members
        at = np.flatnonzero(np.isin(self.from_bus, buses) | np.isin(self.to_bus, buses))
        negative = [self.line_ids[k] for k in at if self.x_pu[k] < 0]
        names = [self.line_ids[k] for k in at[np.argsort(self.x_pu[at] >= 0, kind="stable")]]

        def shown(ids):
            ids = list(ids)
            return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")

        lost = f"after losing line {self.line_ids[outage]}, " if outage is not None else ""
        neg = f"; negative reactances on {shown(negative)}" if negative and outage is None else ""
        return (
            f"{lost}the bus susceptance matrix is singular ({detail}) around bus(es) "
            f"{shown(self.bus_ids[i] for i in buses)} (lines {shown(names)}{neg}): "
            "the DC power flow has no unique solution"
        )

    @cached_property
    def shift_injection_pu(self) -> np.ndarray:
        """Per bus, what the phase shifters add to B theta = P (MATPOWER's -Pbusinj): b phi at a
        shifter's from bus, -b phi at its to bus."""
        out = np.zeros(self.n_bus)
        bphi = self.susceptance * self.shift_rad
        np.add.at(out, self.from_bus, bphi)
        np.add.at(out, self.to_bus, -bphi)
        return out

    @cached_property
    def flow_offset_mw(self) -> np.ndarray:
        """Line flows with no injection at all: what the phase shifters alone drive (0 without any).

        flows(p) = PTDF p + flow_offset_mw for balanced p; the offset is b (Δtheta_S - phi) base_mva
        with theta_S = B^-1 S."""
        return self.flows(np.zeros(self.n_bus))

    def flows(self, injections_mw) -> np.ndarray:
        """Line flows (MW, from -> to) for net bus injections (array per bus, or dict bus id -> MW):
        b (theta_from - theta_to - phi) base_mva, with B theta = P / base_mva + S (phase shifters).

        Each component's slack absorbs that component's imbalance.
        """
        p = self._vector(injections_mw)
        keep, lu = self._reduced
        theta = np.zeros(self.n_bus)
        if lu is not None:
            theta[keep] = lu.solve(p[keep] / self.base_mva + self.shift_injection_pu[keep])
        return self.susceptance * (theta[self.from_bus] - theta[self.to_bus] - self.shift_rad) * self.base_mva

    def ptdf(self) -> np.ndarray:
        """PTDF (lines x buses): MW on each line per MW injected at a bus and taken at its slack."""
        return self._ptdf

    @cached_property
    def _ptdf(self) -> np.ndarray:
        keep, lu = self._reduced
        out = np.zeros((self.n_line, self.n_bus))
        if lu is None:
            return out
        bf = (sp.diags(self.susceptance) @ self.incidence).tocsr()[:, keep]
        # PTDF_red = Bf_red B_red^-1. Solve for whichever right-hand side is smaller: the
        # identity (V-1 columns, then a sparse-dense product) or, B_red being symmetric,
        # Bf_red^T (E columns). Grids have E > V, so usually the former.
        if keep.size <= self.n_line:
            out[:, keep] = bf @ lu.solve(np.eye(keep.size))
        else:
            out[:, keep] = lu.solve(bf.T.toarray()).T
        return out

    def lodf(self) -> np.ndarray:
        """LODF (lines x lines): change of flow on l per MW of pre-outage flow on k when k trips.

        Column k is NaN when k is a bridge (its outage islands buses; no finite LODF).
        """
        return self._lodf

    @cached_property
    def _lodf(self) -> np.ndarray:
        # H[l, k] = PTDF[l, from_k] - PTDF[l, to_k]: flow on l per MW moved across k's ends.
        h = np.asarray((self.incidence @ self._ptdf.T).T)
        denom = 1.0 - np.diag(h).copy()
        bridge = np.zeros(self.n_line, dtype=bool)
        bridge[self.bridges()] = True
        denom[bridge] = np.nan
        # 1 - H_kk = det(B without k) / det(B): only a bridge makes it 0 when every b > 0, but
        # negative susceptances can make a non-islanding outage leave B singular too.
        singular = np.flatnonzero(~bridge & (np.abs(denom) < OUTAGE_DENOMINATOR_MIN))
        if singular.size and (self.x_pu < 0).any():  # with every b > 0 a near-bridge's small value is true
            k = int(singular[0])
            ends = np.array([self.from_bus[k], self.to_bus[k]])
            weight = np.zeros(self.n_bus)
            weight[ends] = 1.0
            raise InputError(
                self._singular_message(weight, ends, f"1 - H_kk = {denom[k]:.1e}", outage=k), where="topology (lines)"
            )
        out = h / denom[None, :]
        np.fill_diagonal(out, -1.0)
        out[:, bridge] = np.nan
        return out

    def bridges(self) -> list[int]:
        """Indices of lines whose outage islands buses. A line with a parallel twin is never one."""
        return list(self._bridges)

    @cached_property
    def _bridges(self) -> tuple[int, ...]:
        g = nx.MultiGraph()
        g.add_nodes_from(range(self.n_bus))
        for k, (u, v) in enumerate(zip(self.from_bus.tolist(), self.to_bus.tolist())):
            g.add_edge(u, v, key=k)
        ends = {frozenset(e) for e in nx.bridges(g)}  # networkx ignores edges that have a parallel twin
        return tuple(k for k in range(self.n_line) if frozenset((int(self.from_bus[k]), int(self.to_bus[k]))) in ends)

    # ------------------------------------------------------------------ injections
    def _vector(self, injections_mw) -> np.ndarray:
        if isinstance(injections_mw, dict):
            p = np.zeros(self.n_bus)
            for bus, mw in injections_mw.items():
                p[self.bus_index[bus]] += mw
            return p
        p = np.asarray(injections_mw, dtype=float)
        if p.shape != (self.n_bus,):
            raise ValueError(f"expected {self.n_bus} bus injections, got shape {p.shape}")
        return p

    def injections(self, dispatch_mw: np.ndarray, extra_load_mw: np.ndarray | None = None) -> np.ndarray:
        """Bus injections: plant output minus existing load minus any extra (new) load."""
        p = -self.load_mw.copy()
        np.add.at(p, self.plant_bus, np.asarray(dispatch_mw, float))
        if extra_load_mw is not None:
            p -= extra_load_mw
        return p

    def new_load_mw(self, site_facility_mw: dict[str, float]) -> np.ndarray:
        """Site facility MW per bus: each site draws on its feeds' substations in proportion to feed capacity."""
        out = np.zeros(self.n_bus)
        for site, mw in site_facility_mw.items():
            for bus, share in self.site_feeds[site]:
                out[bus] += mw * share
        return out

    def monitored(self, *, min_kv: float | None = None) -> np.ndarray:
        """Mask of monitored lines: all, or those at or above ``min_kv`` (lines without kv stay monitored)."""
        mask = np.ones(self.n_line, dtype=bool)
        if min_kv is not None:
            mask &= ~(self.line_kv < min_kv)  # NaN kv compares False: unknown voltage stays monitored
        return mask

    # ------------------------------------------------------------------ pre-existing state
    def unservable_components(self) -> list[str]:
        """One message per component whose existing load exceeds the output its plants may give it."""
        labels, out = self.components, []
        avail = self.capacity_mw - self.spare_mw
        for c in range(self.slack.size):
            load = float(self.load_mw[labels == c].sum())
            gen = float(avail[labels[self.plant_bus] == c].sum())
            if load > gen + 1e-9:
                members = [self.bus_ids[i] for i in np.flatnonzero(labels == c)]
                shown = ", ".join(members[:5]) + (f" and {len(members) - 5} more" if len(members) > 5 else "")
                kind = "an islanded bus" if len(members) == 1 else f"an island of {len(members)} buses"
                out.append(
                    f"{kind} ({shown}) has {load:g} MW of existing load but only {gen:g} MW of plant output "
                    f"(capacity less spare) connected to it: its load cannot be served"
                )
        return out

    def preexisting_state(self, *, penalty_usd_per_mwh: float = OVERLOAD_PENALTY_USD_PER_MWH) -> PreexistingState:
        """Least-cost DC OPF of the existing load, plant output in [0, capacity - spare], base-case limits.

        When no dispatch keeps every line within rating_mw, the LP is re-solved with a
        penalised overload slack per line and the remaining overloads are returned as
        pre-existing facts (``relaxed=True``). Raises InfeasibleError when a component's
        load exceeds the plant output available to it (e.g. a loaded bus with no lines).
        """
        reasons = self.unservable_components()
        if reasons:
            raise InfeasibleError("the existing load cannot be served by the grid as given", reasons)
        ng = len(self.plant_ids)
        ub = self.capacity_mw - self.spare_mw
        if ng == 0:  # no plants, and (checked above) no load either: nothing flows
            zero = np.zeros(self.n_bus)
            return PreexistingState(np.zeros(0), zero, np.zeros(self.n_line), 0.0, False, [])
        ptdf = self._ptdf
        g = ptdf[:, self.plant_bus]  # lines x plants
        f_load = -ptdf @ self.load_mw + self.flow_offset_mw  # the phase shifters' flows are fixed
        # Only rows that can bind: skip lines whose worst-case flow is already within rating.
        reach = np.abs(g) @ ub + np.abs(f_load)
        rows = np.flatnonzero(reach > self.rating_mw)
        labels = self.components
        comps = np.unique(labels[self.plant_bus]) if ng else np.array([], dtype=np.int64)
        a_eq = np.array([(labels[self.plant_bus] == c).astype(float) for c in comps]).reshape(len(comps), ng)
        b_eq = np.array([self.load_mw[labels == c].sum() for c in comps])
        gr, rating, fl = g[rows], self.rating_mw[rows], f_load[rows]
        cost = self.cost_usd_per_mwh

        res = linprog(
            cost,
            A_ub=np.vstack([gr, -gr]) if rows.size else None,
            b_ub=np.concatenate([rating - fl, rating + fl]) if rows.size else None,
            A_eq=a_eq if comps.size else None,
            b_eq=b_eq if comps.size else None,
            bounds=list(zip(np.zeros(ng), ub)),
            method="highs",
        )
        relaxed = False
        if res.status == 2 and rows.size:  # infeasible with hard limits: relax them
            relaxed = True
            eye = sp.identity(rows.size, format="csr")  # sparse: one slack per monitored line
            res = linprog(
                np.concatenate([cost, np.full(rows.size, penalty_usd_per_mwh)]),
                A_ub=sp.vstack([sp.hstack([gr, -eye]), sp.hstack([-gr, -eye])]).tocsr(),
                b_ub=np.concatenate([rating - fl, rating + fl]),
                A_eq=np.hstack([a_eq, np.zeros((len(comps), rows.size))]) if comps.size else None,
                b_eq=b_eq if comps.size else None,
                bounds=list(zip(np.zeros(ng), ub)) + [(0, None)] * rows.size,
                method="highs",
            )
        if res.status != 0:
            raise InfeasibleError(f"pre-existing DC OPF failed: {res.message}")
        dispatch = np.clip(res.x[:ng], 0.0, ub)
        inj = self.injections(dispatch)
        flows = self.flows(inj)
        over = [
            Violation(self.line_ids[l], float(flows[l]), float(self.rating_mw[l]))
            for l in np.flatnonzero(np.abs(flows) > self.rating_mw + 1e-6)
        ]
        return PreexistingState(dispatch, inj, flows, float(cost @ dispatch), relaxed, over)

    # ------------------------------------------------------------------ N-1
    def post_outage_flows(self, base_flows_mw: np.ndarray, outages: np.ndarray | None = None) -> np.ndarray:
        """Flows after each outage k (columns): f_l + LODF[l, k] f_k. Bridges must not be passed."""
        if outages is None:
            outages = self.non_bridge_outages()
        f = np.asarray(base_flows_mw, float)
        return f[:, None] + self._lodf[:, outages] * f[outages][None, :]

    def non_bridge_outages(self) -> np.ndarray:
        mask = np.ones(self.n_line, dtype=bool)
        mask[list(self._bridges)] = False
        return np.flatnonzero(mask)

    def screen_n1(
        self,
        base_flows_mw: np.ndarray,
        *,
        reference_post_mw: np.ndarray | None = None,
        reference_base_mw: np.ndarray | None = None,
        monitored: np.ndarray | None = None,
        tol_mw: float = 1e-6,
    ) -> N1Screen:
        """Screen every non-bridge single-line outage by LODF.

        Limits: base case ``rating_mw``; after outage k, ``emergency_mw``. With
        ``reference_post_mw`` (the pre-existing state's ``post_flows_mw``) the post-outage
        limit becomes max(emergency, |reference|) -- the no-harm rule; ``reference_base_mw``
        does the same for the base case (an existing base overload may stay, not grow).
        """
        f = np.asarray(base_flows_mw, float)
        mon = np.ones(self.n_line, dtype=bool) if monitored is None else np.asarray(monitored, bool)
        outages = self.non_bridge_outages()
        post = self.post_outage_flows(f, outages)
        base_limit = self.rating_mw
        if reference_base_mw is not None:
            base_limit = np.maximum(base_limit, np.abs(reference_base_mw))
        violations = [
            Violation(self.line_ids[l], float(f[l]), float(base_limit[l]))
            for l in np.flatnonzero(mon & (np.abs(f) > base_limit + tol_mw))
        ]
        limit = self.emergency_mw[:, None]
        if reference_post_mw is not None:
            limit = np.maximum(limit, np.abs(reference_post_mw))
        bad = (np.abs(post) > limit + tol_mw) & mon[:, None]
        limit_full = np.broadcast_to(limit, post.shape)
        for l, j in zip(*np.nonzero(bad)):
            violations.append(
                Violation(self.line_ids[l], float(post[l, j]), float(limit_full[l, j]), self.line_ids[outages[j]])
            )
        return N1Screen(outages, list(self._bridges), post, violations)


__all__ = ["GridModel", "PreexistingState", "N1Screen", "Violation", "OVERLOAD_PENALTY_USD_PER_MWH"]
