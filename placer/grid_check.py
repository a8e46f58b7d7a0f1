"""The verifier's own DC power flow: base and post-outage line flows from the scenario.

This module deliberately shares no code with ``solvers/`` (the solver uses PTDF/LODF in
:mod:`solvers.dcpf`). Here every flow comes from a direct sparse solve of the bus
susceptance system, and every post-outage flow from *rebuilding* the network without the
outaged line and solving again -- a different method, so a bug in one is unlikely to be
repeated in the other.

Model (lossless DC, the convention shared with the solver):

* buses are all substations and plants of the topology, in node order; branches are the
  ``line`` edges (parallel lines are separate branches);
* a line of reactance ``x`` (per unit on ``policy.base_mva``) has susceptance ``b = 1/x``
  (negative for series compensation) and phase-shift angle ``phi`` (``phase_shift_deg``,
  in radians); its flow from ``from`` to ``to`` is ``b (theta_from - theta_to - phi)`` in
  per unit, times ``base_mva`` in MW -- MATPOWER's makeBdc: the angles solve
  ``B theta = P + S`` with ``S`` = ``b phi`` at each shifter's from bus and ``-b phi`` at
  its to bus; a lost line takes its shift with it;
* the DC flow must be solvable: every component's reduced B non-singular, and (N-1) every
  non-islanding outage too (:func:`singular_susceptance`); otherwise InputError naming the
  buses and lines (only negative reactances can make B singular);
* each connected component has one slack bus: the plant with the largest ``capacity_mw``
  (ties: lowest node index), else the lowest-index bus. The slack's own injection is
  ignored -- it absorbs whatever balances its component -- so callers should pass balanced
  injections (see :func:`component_imbalance_mw`).

Inputs: a validated :class:`~placer.scenario.Scenario` and net bus injections in MW
(generation positive, load negative) keyed by bus id; buses not named inject nothing.
Outputs: flows in MW keyed by line id, positive from the line's ``from`` to its ``to``.

Complexity: building B is O(V + E); one solve is a sparse LU of the reduced B per
component, near-linear in V for grid-like graphs. :func:`outage_flows` rebuilds and
refactors for every call, so screening all E outages (:func:`all_outage_flows`) costs E
factorizations -- about 2 ms each at 1,666 buses: 4 s for all 2,303 outages of case1354.

:class:`OutageScreen` is the fast path the verifier uses for a full N-1 screen: one LU of
the reduced B, then every outage as a Sherman-Morrison rank-one update of that matrix
(``B' = B - b_k a_k a_k^T``), worked in the angle space in blocks of outages -- E
triangular solves in all, no PTDF and no LODF. Tests check it against rebuild-and-resolve.

:func:`preexisting_opf` is the verifier's own least-cost DC OPF of the existing load, in
the bus-angle (B-theta) form -- angles and plant outputs as variables, nodal balance as
equalities -- rather than the solver's PTDF form, solved by HiGHS through
:func:`scipy.optimize.linprog`.

The definitions it shares with the solver -- marginal-cost defaults by plant type,
emergency ratings, the overload penalty, the solvability thresholds -- live in
:mod:`placer.contract` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import LinearOperator, onenormest, splu

from placer.contract import (
    COND_MAX,
    DEFAULT_COST_USD_PER_MWH,
    OUTAGE_DENOMINATOR_MIN,
    OVERLOAD_PENALTY_USD_PER_MWH,
    emergency_rating_mw,
    plant_cost_usd_per_mwh,
)
from placer.errors import InputError
from placer.scenario import Scenario


@dataclass(frozen=True)
class _Network:
    """Index arrays of one network state (base case, or the base case less one line)."""

    bus_ids: tuple[str, ...]
    capacity: np.ndarray  # plant capacity per bus, 0 at substations; picks the slack
    line_ids: tuple[str, ...]
    f: np.ndarray
    t: np.ndarray
    b: np.ndarray  # susceptance 1/x, per unit (negative for series compensation)
    phi: np.ndarray  # phase-shift angle, radians (0 without a shifter)
    base_mva: float


def _network(scenario: Scenario) -> _Network:
    nodes = [n for n in scenario.topology.nodes if n.kind in ("substation", "plant")]
    index = {n.id: i for i, n in enumerate(nodes)}
    lines = [e for e in scenario.topology.edges if e.kind == "line"]
    return _Network(
        bus_ids=tuple(n.id for n in nodes),
        capacity=np.array([n.capacity_mw if n.kind == "plant" else 0.0 for n in nodes]),
        line_ids=tuple(str(e.id) for e in lines),  # ids are filled in by validation
        f=np.array([index[e.from_node] for e in lines], dtype=np.int64),
        t=np.array([index[e.to_node] for e in lines], dtype=np.int64),
        b=np.array([1.0 / e.reactance_pu for e in lines]),
        phi=np.radians(np.array([float(e.phase_shift_deg) for e in lines])),
        base_mva=float(scenario.policy.base_mva),
    )


def _without(net: _Network, line: int) -> _Network:
    """The network less one line: its B matrix, components and LU are then built from scratch."""
    keep = np.arange(len(net.line_ids)) != line
    return _Network(
        net.bus_ids,
        net.capacity,
        tuple(l for i, l in enumerate(net.line_ids) if i != line),
        net.f[keep],
        net.t[keep],
        net.b[keep],
        net.phi[keep],
        net.base_mva,
    )


def _components(net: _Network) -> tuple[int, np.ndarray]:
    n = len(net.bus_ids)
    adj = sp.coo_matrix((np.ones(len(net.f)), (net.f, net.t)), shape=(n, n))
    return connected_components(adj, directed=False)


def _slacks(net: _Network, labels: np.ndarray, count: int) -> np.ndarray:
    """Slack bus per component: largest plant capacity, ties and plant-less components to the lowest index."""
    slack = np.empty(count, dtype=np.int64)
    for c in range(count):
        members = np.flatnonzero(labels == c)  # ascending, so argmax breaks ties to the lowest index
        slack[c] = members[int(np.argmax(net.capacity[members]))]
    return slack


def _susceptance(net: _Network) -> sp.csc_matrix:
    """Bus susceptance matrix B = sum over lines of b (e_f - e_t)(e_f - e_t)^T."""
    n = len(net.bus_ids)
    rows = np.concatenate([net.f, net.t, net.f, net.t])
    cols = np.concatenate([net.f, net.t, net.t, net.f])
    vals = np.concatenate([net.b, net.b, -net.b, -net.b])
    return sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsc()  # duplicates summed: parallel lines add


def _shift_injection_pu(net: _Network) -> np.ndarray:
    """Per bus, the injection the phase shifters add to B theta = P (MATPOWER's -Pbusinj): b phi at
    each shifter's from bus, -b phi at its to bus."""
    out = np.zeros(len(net.bus_ids))
    np.add.at(out, net.f, net.b * net.phi)
    np.add.at(out, net.t, -net.b * net.phi)
    return out


def _branch_flows_mw(net: _Network, theta: np.ndarray) -> np.ndarray:
    """b (theta_from - theta_to - phi) x base_mva, for angle arrays of shape (buses,) or (buses, m)."""
    phi = net.phi if theta.ndim == 1 else net.phi[:, None]
    b = net.b if theta.ndim == 1 else net.b[:, None]
    return b * (theta[net.f] - theta[net.t] - phi) * net.base_mva


def _solve_flows(net: _Network, p_mw: np.ndarray) -> np.ndarray:
    count, labels = _components(net)
    slack = _slacks(net, labels, count)
    bmat = _susceptance(net)
    theta = np.zeros(len(net.bus_ids))
    p_pu = p_mw / net.base_mva + _shift_injection_pu(net)
    for c in range(count):
        keep = np.flatnonzero(labels == c)
        keep = keep[keep != slack[c]]
        if keep.size == 0:
            continue  # a lone bus: no lines, nothing to solve
        theta[keep] = _factor(net, bmat, keep).solve(p_pu[keep])
    return _branch_flows_mw(net, theta)


# --------------------------------------------------------------------------- solvability


@dataclass(frozen=True)
class SingularGrid:
    """Why the DC power flow has no (unique) solution: the buses and lines involved."""

    message: str
    buses: tuple[str, ...]
    lines: tuple[str, ...]
    outage: str | None = None  # the lost line, when only the post-outage matrix is singular


def _named(ids, shown: int = 5) -> str:
    ids = list(ids)
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def _involved(net: _Network, weight: np.ndarray | None, members: np.ndarray) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The buses carrying the (near-)null vector ``weight`` (all ``members`` without one), and the
    lines touching them, negative-reactance lines first: those are what can cancel."""
    if weight is None or not np.any(weight):
        buses = members
    else:
        mag = np.abs(weight)
        buses = np.flatnonzero(mag >= 0.1 * mag.max())
        buses = buses[np.argsort(-mag[buses], kind="stable")]
    at = np.isin(net.f, buses) | np.isin(net.t, buses)
    lines = np.flatnonzero(at)
    lines = lines[np.argsort(net.b[lines] >= 0, kind="stable")]
    return tuple(net.bus_ids[i] for i in buses), tuple(net.line_ids[k] for k in lines)


def _singular(net: _Network, buses, lines, detail: str, outage: str | None = None) -> SingularGrid:
    b = dict(zip(net.line_ids, net.b.tolist()))
    neg = [l for l in lines if b[l] < 0] if outage is None else []
    where = f"after losing line {outage}, " if outage else ""
    why = f"; negative reactances on {_named(neg)}" if neg else ""
    return SingularGrid(
        f"{where}the bus susceptance matrix is singular ({detail}) around bus(es) {_named(buses)} "
        f"(lines {_named(lines)}{why}): the DC power flow has no unique solution",
        tuple(buses),
        tuple(lines),
        outage,
    )


def _factor(net: _Network, bmat: sp.spmatrix, keep: np.ndarray):
    """Sparse LU of B restricted to ``keep`` (one component less its slack), or InputError naming
    the buses and lines when that matrix is singular or too ill-conditioned to trust."""
    at = np.isin(net.f, keep) | np.isin(net.t, keep)
    problem = _check_block(net, bmat, keep) if (net.b[at] < 0).any() else None
    if problem is not None:
        raise InputError(problem.message, where="topology (lines)")
    return splu(bmat[keep][:, keep].tocsc())


def _base_problem(net: _Network, labels: np.ndarray, slack: np.ndarray, bmat: sp.spmatrix) -> SingularGrid | None:
    """The first component whose reduced B (less its slack) is singular, or None.

    Only components with a negative susceptance are checked: with every b > 0 the reduced B of
    a connected component is positive definite, never singular."""
    negative = np.zeros(slack.size, dtype=bool)
    negative[labels[net.f[net.b < 0]]] = True
    for c in np.flatnonzero(negative):  # B is block-diagonal over components: check each block
        block = np.flatnonzero(labels == c)
        block = block[block != slack[c]]
        problem = _check_block(net, bmat, block) if block.size else None
        if problem is not None:
            return problem
    return None


def _check_block(net: _Network, bmat: sp.spmatrix, keep: np.ndarray) -> SingularGrid | None:
    """Hager-Higham 1-norm estimate of cond(B_keep) (scipy's onenormest on B^-1, a few LU solves).

    With positive susceptances B_keep is positive definite and never singular; negative ones
    (series compensation) can cancel. Above COND_MAX the flows would carry more than ~1e-6
    relative rounding error, so the matrix is treated as singular."""
    sub = bmat[keep][:, keep].tocsc()
    try:
        lu = splu(sub)
    except RuntimeError:  # SuperLU: "Factor is exactly singular"; a shifted B shows its null vector
        shift = 1e-9 * max(1.0, float(abs(sub).sum(axis=0).max()))
        shifted = splu((sub + shift * sp.identity(sub.shape[0], format="csc")).tocsc())
        w = shifted.solve(shifted.solve(np.random.default_rng(0).standard_normal(sub.shape[0])))
        full = np.zeros(len(net.bus_ids))
        full[keep] = w
        buses, lines = _involved(net, full, keep)
        return _singular(net, buses, lines, "exactly")
    op = LinearOperator(sub.shape, matvec=lu.solve, rmatvec=lambda v: lu.solve(v, trans="T"), dtype=float)
    est, _, w = onenormest(op, compute_v=True, compute_w=True)
    cond = float(abs(sub).sum(axis=0).max()) * float(est)
    if not (np.isfinite(cond) and cond <= COND_MAX):
        full = np.zeros(len(net.bus_ids))
        full[keep] = np.asarray(w).ravel()
        buses, lines = _involved(net, full, keep)
        return _singular(net, buses, lines, f"condition number about {cond:.1e}, above {COND_MAX:.0e}")
    return None


def _injection_vector(net: _Network, injections_mw: dict[str, float]) -> np.ndarray:
    index = {bus: i for i, bus in enumerate(net.bus_ids)}
    p = np.zeros(len(net.bus_ids))
    for bus, mw in injections_mw.items():
        if bus not in index:
            raise ValueError(f"injection at '{bus}', which is not a substation or plant of the scenario")
        if not np.isfinite(mw):
            raise ValueError(f"injection at '{bus}' is not finite ({mw!r})")
        p[index[bus]] += float(mw)
    return p


def dc_flows(scenario: Scenario, injections_mw: dict[str, float]) -> dict[str, float]:
    """Base-case DC flow of every line, MW, for the given net bus injections (MW)."""
    net = _network(scenario)
    flows = _solve_flows(net, _injection_vector(net, injections_mw))
    return dict(zip(net.line_ids, flows.tolist()))


def _outage(base: _Network, base_count: int, p: np.ndarray, k: int) -> dict[str, float] | None:
    net = _without(base, k)
    if _components(net)[0] > base_count:
        return None
    flows = dict(zip(net.line_ids, _solve_flows(net, p).tolist()))
    flows[base.line_ids[k]] = 0.0
    return {line: flows[line] for line in base.line_ids}


def outage_flows(scenario: Scenario, injections_mw: dict[str, float], outage_line_id: str) -> dict[str, float] | None:
    """Flows after losing line ``outage_line_id``, by re-solving the network without it.

    Returns None when the outage islands part of the grid (the line is a bridge: the
    number of connected components grows), because the islanded part's balance is then
    undefined. The outaged line is reported with flow 0.
    """
    base = _network(scenario)
    if outage_line_id not in base.line_ids:
        raise ValueError(f"no line '{outage_line_id}' in the scenario")
    k = base.line_ids.index(outage_line_id)
    return _outage(base, _components(base)[0], _injection_vector(base, injections_mw), k)


def all_outage_flows(scenario: Scenario, injections_mw: dict[str, float]) -> dict[str, dict[str, float] | None]:
    """:func:`outage_flows` for every line, keyed by the outaged line (None for islanding outages).

    Same method, read from the scenario once: about E x (one sparse LU) in all.
    """
    base = _network(scenario)
    count = _components(base)[0]
    p = _injection_vector(base, injections_mw)
    return {line: _outage(base, count, p, k) for k, line in enumerate(base.line_ids)}


def islanding_outages(scenario: Scenario) -> list[str]:
    """Lines whose single outage splits a connected component (bridges), in scenario order."""
    base = _network(scenario)
    count = _components(base)[0]
    return [line for k, line in enumerate(base.line_ids) if _components(_without(base, k))[0] > count]


def component_imbalance_mw(scenario: Scenario, injections_mw: dict[str, float]) -> dict[str, float]:
    """Net injection per connected component, keyed by its slack bus; 0 when balanced.

    A non-zero value is what the slack would have to absorb: the flows are then those of
    a dispatch that does not add up, which the verifier should flag.
    """
    net = _network(scenario)
    count, labels = _components(net)
    slack = _slacks(net, labels, count)
    p = _injection_vector(net, injections_mw)
    return {net.bus_ids[slack[c]]: float(p[labels == c].sum()) for c in range(count)}


def singular_susceptance(scenario: Scenario, *, outages: bool | None = None) -> SingularGrid | None:
    """Whether the scenario's DC power flow is solvable: None, or what makes B singular.

    Checks every component's reduced B (condition estimate, :data:`COND_MAX`) and, with
    ``outages`` (default: when ``policy.grid.security`` is ``n-1``), every non-islanding
    single-line outage (:data:`OUTAGE_DENOMINATOR_MIN`). Cost: one LU and a few solves per
    component, plus E triangular solves for the outages."""
    if not scenario.topology.edges_of_kind("line"):
        return None
    net = _network(scenario)
    count, labels = _components(net)
    problem = _base_problem(net, labels, _slacks(net, labels, count), _susceptance(net))
    if problem is not None:
        return problem
    screen = OutageScreen(scenario)
    if outages is None:
        outages = scenario.policy.grid.security == "n-1"
    return screen.singular_outage() if outages else None


# --------------------------------------------------------------------------- fast N-1 screen


def _bridge_lines(net: _Network) -> np.ndarray:
    """Indices of the lines whose loss splits a component (bridges), in line order.

    Iterative depth-first search with low-links over the multigraph, keyed by line index
    so that a parallel twin is a back edge (two lines between the same buses are never
    bridges). O(V + E). :func:`islanding_outages` finds the same set by counting
    components without each line; the tests check they agree.
    """
    n = len(net.bus_ids)
    adj: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for k, (u, v) in enumerate(zip(net.f.tolist(), net.t.tolist())):
        adj[u].append((v, k))
        adj[v].append((u, k))
    order = [-1] * n
    low = [0] * n
    out: list[int] = []
    counter = 0
    for root in range(n):
        if order[root] >= 0:
            continue
        order[root] = low[root] = counter
        counter += 1
        stack = [(root, -1, iter(adj[root]))]  # (bus, line used to reach it, neighbours left)
        while stack:
            u, via, it = stack[-1]
            for v, k in it:
                if k == via:
                    continue
                if order[v] < 0:
                    order[v] = low[v] = counter
                    counter += 1
                    stack.append((v, k, iter(adj[v])))
                    break
                low[u] = min(low[u], order[v])
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[u])
                    if low[u] > order[parent]:
                        out.append(via)
    return np.array(sorted(out), dtype=np.int64)


class OutageScreen:
    """Base and post-outage flows of a scenario's network, by rank-one updates of one LU.

    Built once per scenario: buses, lines, connected components, one slack bus per
    component (the module's convention), the islanding outages (by counting components
    without each line, as :func:`islanding_outages`) and the sparse LU of the reduced
    bus susceptance matrix ``B`` (slack rows and columns removed; block-diagonal over the
    components).

    Injections are arrays ``P`` of shape (buses,) or (buses, m) in MW: ``m`` injection
    vectors are carried through every solve together (the verifier passes the plan's and
    the pre-existing state's). Losing a non-islanding line k changes the reduced ``B`` by
    ``-b_k a_k a_k^T`` (``a_k`` = +1 at k's from bus, -1 at its to bus, slack entries
    dropped), so by Sherman-Morrison the post-outage angles are
    ``theta^k = theta + w_k b_k (a_k . theta) / (1 - b_k a_k . w_k)`` with
    ``w_k = B^-1 a_k``. An islanding outage makes the denominator 0; those are skipped.

    Complexity: one sparse LU, then one triangular solve per outage (done ``block``
    outages at a time as dense right-hand sides) and an O(E) update per outage and
    injection vector: O(E (fill + E m)) time, O(V block + E block m) memory.
    """

    def __init__(self, scenario: Scenario):
        net = _network(scenario)
        self.net = net
        self.bus_ids, self.line_ids = net.bus_ids, net.line_ids
        self.bus_index = {b: i for i, b in enumerate(net.bus_ids)}
        self.line_index = {l: i for i, l in enumerate(net.line_ids)}
        self.n_bus, self.n_line = len(net.bus_ids), len(net.line_ids)
        self.count, self.labels = _components(net)
        self.slack = _slacks(net, self.labels, self.count)
        self.bridges = _bridge_lines(net)
        mask = np.ones(self.n_line, dtype=bool)
        mask[self.bridges] = False
        self.outages = np.flatnonzero(mask)  # the non-islanding outages, in line order
        is_slack = np.zeros(self.n_bus, dtype=bool)
        is_slack[self.slack] = True
        self._keep = np.flatnonzero(~is_slack)
        self._pos = np.full(self.n_bus, -1, dtype=np.int64)
        self._pos[self._keep] = np.arange(self._keep.size)
        bmat = _susceptance(net)
        problem = _base_problem(net, self.labels, self.slack, bmat)
        if problem is not None:
            raise InputError(problem.message, where="topology (lines)")
        self._lu = splu(bmat[self._keep][:, self._keep].tocsc()) if self._keep.size else None
        self._shift_pu = _shift_injection_pu(net)
        self._negative = bool((net.b < 0).any())

    def _as_matrix(self, p_mw) -> np.ndarray:
        p = np.asarray(p_mw, dtype=float)
        p = p.reshape(self.n_bus, -1)
        if not np.isfinite(p).all():
            raise ValueError("injections must be finite")
        return p

    def vector(self, injections_mw: dict[str, float]) -> np.ndarray:
        """A bus injection array from ``{bus id: MW}`` (unknown buses raise ValueError)."""
        return _injection_vector(self.net, injections_mw)

    def angles(self, p_mw) -> np.ndarray:
        """Bus angles (per unit radians, slack at 0), shape (buses, m)."""
        p = self._as_matrix(p_mw)
        theta = np.zeros_like(p)
        if self._lu is not None:
            for c in range(p.shape[1]):  # column by column: see post_outage
                theta[self._keep, c] = self._lu.solve(p[self._keep, c] / self.net.base_mva + self._shift_pu[self._keep])
        return theta

    def flows(self, p_mw) -> np.ndarray:
        """Base-case line flows, MW, shape (lines, m): b (theta_from - theta_to - phi) x base_mva."""
        return _branch_flows_mw(self.net, self.angles(p_mw))

    def _outage_directions(self, ks: np.ndarray) -> np.ndarray:
        """w_k = B^-1 a_k for each outage k (columns, all buses; slack rows 0)."""
        net, nk = self.net, ks.size
        cols = np.arange(nk)
        rhs = np.zeros((self._keep.size, nk))
        fpos, tpos = self._pos[net.f[ks]], self._pos[net.t[ks]]
        ok = fpos >= 0
        rhs[fpos[ok], cols[ok]] += 1.0
        ok = tpos >= 0
        rhs[tpos[ok], cols[ok]] -= 1.0
        w = np.zeros((self.n_bus, nk))
        if self._lu is not None:
            # One right-hand side at a time: SuperLU's multi-column solve goes through
            # BLAS-3, which with OpenBLAS threads competing for a small machine ran 100x
            # slower than these single-column triangular solves.
            for j in range(nk):
                w[self._keep, j] = self._lu.solve(rhs[:, j])
        return w

    def singular_outage(self, *, block: int = 256) -> SingularGrid | None:
        """The first non-islanding outage whose post-outage B is singular (1 - b_k a_k.w_k ~ 0), or None.

        Only negative susceptances make this possible; E triangular solves."""
        net = self.net
        if not self._negative:
            return None  # every b > 0: a non-islanding outage leaves B positive definite
        for start in range(0, self.outages.size, block):
            ks = self.outages[start : start + block]
            w = self._outage_directions(ks)
            denom = 1.0 - net.b[ks] * (w[net.f[ks], np.arange(ks.size)] - w[net.t[ks], np.arange(ks.size)])
            bad = np.flatnonzero(np.abs(denom) < OUTAGE_DENOMINATOR_MIN)
            if bad.size:
                j = int(bad[0])
                k = int(ks[j])
                buses, lines = _involved(net, w[:, j], np.array([net.f[k], net.t[k]]))
                return _singular(net, buses, lines, f"1 - b a.B^-1 a = {denom[j]:.1e}", outage=net.line_ids[k])
        return None

    def post_outage(self, p_mw, outages=None, *, block: int = 256):
        """Yield ``(ks, post)`` per block of outages: ``post[l, j, c]`` is the flow (MW) on
        line l after losing line ``ks[j]``, for injection column c; the lost line reads 0.

        ``outages`` (line indices) defaults to every non-islanding line; passing an
        islanding line raises ValueError.
        """
        net = self.net
        ks_all = self.outages if outages is None else np.asarray(outages, dtype=np.int64)
        if np.isin(ks_all, self.bridges).any():
            raise ValueError("an islanding outage has no post-outage flows")
        theta = self.angles(p_mw)
        base = _branch_flows_mw(net, theta)  # lines x m
        for start in range(0, ks_all.size, block):
            ks = ks_all[start : start + block]
            nk = ks.size
            cols = np.arange(nk)
            w = self._outage_directions(ks)
            dw = w[net.f] - w[net.t]  # lines x outages: change of angle difference per unit
            bk = net.b[ks]
            denom = 1.0 - bk * dw[ks, cols]
            bad: np.ndarray | list[int] = (
                np.flatnonzero(np.abs(denom) < OUTAGE_DENOMINATOR_MIN) if self._negative else []
            )
            if len(bad):  # only negative susceptances get here: the outage leaves B singular
                j = int(bad[0])
                buses, lines = _involved(net, w[:, j], np.array([net.f[ks[j]], net.t[ks[j]]]))
                problem = _singular(net, buses, lines, f"1 - b a.B^-1 a = {denom[j]:.1e}", outage=net.line_ids[ks[j]])
                raise InputError(problem.message, where="topology (lines)")
            # The lost line takes its phase shift with it: theta' = theta + w_k f_k / (1 - b_k a_k.w_k),
            # f_k = b_k (a_k.theta - phi_k) its pre-outage flow (pu); the LODF form, shifts included.
            gamma = bk[:, None] * (theta[net.f[ks]] - theta[net.t[ks]] - net.phi[ks][:, None]) / denom[:, None]
            post = base[:, None, :] + (net.b[:, None] * dw * net.base_mva)[:, :, None] * gamma[None, :, :]
            post[ks, cols, :] = 0.0
            yield ks, post


# --------------------------------------------------------------------------- pre-existing OPF


@dataclass(frozen=True)
class OpfResult:
    """The verifier's least-cost DC OPF of the existing load (see :func:`preexisting_opf`)."""

    feasible: bool  # False: no dispatch serves the existing load even with overloads allowed
    relaxed: bool  # True: base-case limits could not all hold, overload was penalised
    dispatch_mw: dict[str, float]  # per plant
    cost_usd_per_h: float  # sum of cost_usd_per_mwh x dispatch
    objective_usd_per_h: float  # cost plus penalty x total overload MW (= cost when not relaxed)
    message: str = ""


def plant_limits(scenario: Scenario) -> dict[str, tuple[float, float]]:
    """Pre-existing output bounds per plant: [0, capacity_mw - spare_mw]."""
    return {p.id: (0.0, float(p.capacity_mw) - float(p.spare_mw)) for p in scenario.topology.plants}


def total_overload_mw(scenario: Scenario, flows_mw: dict[str, float]) -> float:
    """Sum over lines of max(0, |flow| - rating_mw): what the relaxed OPF penalises."""
    ratings = {e.id: float(e.rating_mw) for e in scenario.topology.edges_of_kind("line")}
    return float(sum(max(0.0, abs(f) - ratings[l]) for l, f in flows_mw.items()))


def preexisting_opf(scenario: Scenario, *, penalty_usd_per_mwh: float = OVERLOAD_PENALTY_USD_PER_MWH) -> OpfResult:
    """Least-cost DC OPF of the existing substation load, in the bus-angle form.

    Variables: plant outputs ``g`` in [0, capacity - spare] and ``psi = base_mva x theta``
    per bus (MW-scaled angles; 0 at each component's slack). Equalities, one per bus:
    ``sum of g at the bus - (B psi)_bus = load_mw - S_bus`` (S: the phase shifters' injections,
    ``b phi base_mva`` at a shifter's from bus, minus that at its to bus), so every component
    balances. Limits: ``|b_l (psi_from - psi_to - base_mva phi_l)| <= rating_mw`` for every line. When that LP is infeasible,
    it is solved again with an overload ``s_l >= 0`` per line (``|flow| <= rating + s``)
    priced at ``penalty_usd_per_mwh`` and the result is ``relaxed``. When even that is
    infeasible (a component's load exceeds the output its plants may give it) the result
    has ``feasible=False``.

    The optimum *value* is unique, the dispatch need not be: callers compare costs.
    """
    net = _network(scenario)
    nb, ne = len(net.bus_ids), len(net.line_ids)
    plants = scenario.topology.plants
    bus_of = {b: i for i, b in enumerate(net.bus_ids)}
    ng = len(plants)
    cost = np.array([plant_cost_usd_per_mwh(p) for p in plants])
    ub = np.array([float(p.capacity_mw) - float(p.spare_mw) for p in plants])
    load = np.zeros(nb)
    for n in scenario.topology.substations:
        load[bus_of[n.id]] = float(n.load_mw)
    count, labels = _components(net)
    slack = _slacks(net, labels, count)

    gmat = sp.csr_matrix((np.ones(ng), ([bus_of[p.id] for p in plants], np.arange(ng))), shape=(nb, ng))
    bmat = _susceptance(net)
    a_eq = sp.hstack([gmat, -bmat]).tocsr()
    rows = np.repeat(np.arange(ne), 2)
    cols = np.column_stack([net.f, net.t]).ravel()
    vals = np.column_stack([net.b, -net.b]).ravel()
    bf = sp.csr_matrix((vals, (rows, cols)), shape=(ne, nb))  # line flows in MW from psi, less the shift offset
    # Phase shifters: flow = b (psi_f - psi_t) - off with off = b phi base_mva, and B psi = P + S with
    # S the shifters' injections (MW), so the nodal balance reads g - B psi = load - S.
    off = net.b * net.phi * net.base_mva
    load = load - _shift_injection_pu(net) * net.base_mva
    psi_bounds: list[tuple[float | None, float | None]] = [(None, None)] * nb
    for s_ in slack:
        psi_bounds[int(s_)] = (0.0, 0.0)
    g_bounds = [(0.0, float(u)) for u in ub]
    rating = np.array([float(e.rating_mw) for e in scenario.topology.edges_of_kind("line")])
    names = [p.id for p in plants]

    def result(x, relaxed: bool) -> OpfResult:
        g = np.clip(x[:ng], 0.0, ub)
        c = float(cost @ g)
        over = float(x[ng + nb :].sum()) if relaxed else 0.0
        return OpfResult(True, relaxed, dict(zip(names, g.tolist())), c, c + penalty_usd_per_mwh * over)

    if ne:
        zero = sp.csr_matrix((ne, ng))
        a_ub = sp.vstack([sp.hstack([zero, bf]), sp.hstack([zero, -bf])]).tocsr()
        res = linprog(
            np.concatenate([cost, np.zeros(nb)]),
            A_ub=a_ub,
            b_ub=np.concatenate([rating + off, rating - off]),
            A_eq=a_eq,
            b_eq=load,
            bounds=g_bounds + psi_bounds,
            method="highs",
        )
    else:
        res = linprog(
            np.concatenate([cost, np.zeros(nb)]), A_eq=a_eq, b_eq=load, bounds=g_bounds + psi_bounds, method="highs"
        )
    if res.status == 0:
        return result(res.x, False)
    if res.status != 2 or not ne:
        return OpfResult(False, False, {}, float("nan"), float("nan"), f"pre-existing DC OPF failed: {res.message}")
    eye = sp.identity(ne, format="csr")
    zero = sp.csr_matrix((ne, ng))
    a_ub = sp.vstack([sp.hstack([zero, bf, -eye]), sp.hstack([zero, -bf, -eye])]).tocsr()
    res = linprog(
        np.concatenate([cost, np.zeros(nb), np.full(ne, penalty_usd_per_mwh)]),
        A_ub=a_ub,
        b_ub=np.concatenate([rating + off, rating - off]),
        A_eq=sp.hstack([a_eq, sp.csr_matrix((nb, ne))]).tocsr(),
        b_eq=load,
        bounds=g_bounds + psi_bounds + [(0.0, None)] * ne,
        method="highs",
    )
    if res.status == 0:
        return result(res.x, True)
    return OpfResult(
        False,
        True,
        {},
        float("nan"),
        float("nan"),
        f"pre-existing DC OPF with penalised overload failed: {res.message}",
    )


def components(scenario: Scenario) -> dict[str, str]:
    """Connected component of every bus, named by its slack bus: ``{bus id: slack bus id}``."""
    net = _network(scenario)
    count, labels = _components(net)
    slack = _slacks(net, labels, count)
    return {b: net.bus_ids[slack[labels[i]]] for i, b in enumerate(net.bus_ids)}


__all__ = [
    "DEFAULT_COST_USD_PER_MWH",
    "plant_cost_usd_per_mwh",
    "emergency_rating_mw",
    "dc_flows",
    "outage_flows",
    "all_outage_flows",
    "islanding_outages",
    "component_imbalance_mw",
    "components",
    "OutageScreen",
    "SingularGrid",
    "singular_susceptance",
    "COND_MAX",
    "OUTAGE_DENOMINATOR_MIN",
    "OpfResult",
    "preexisting_opf",
    "plant_limits",
    "total_overload_mw",
    "OVERLOAD_PENALTY_USD_PER_MWH",
]
