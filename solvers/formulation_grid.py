"""The grid's rows written once: component balance, line limits (base case and N-1), raised output.

Input: a :class:`~solvers.dcpf.GridModel`, the site-to-bus share matrix, the no-harm
sensitivities and limits of a :class:`~solvers.grid_security.SecurityLoop` (duck-typed: any object
with ``grid``, ``share``, ``outages`` and ``row(l, j)``). Output: :class:`~solvers.formulation.Row`
objects over :class:`~solvers.formulation.Ref` variables that every translator adds with its own
``add_row``: the MILP (:meth:`solvers.milp.MilpModel.add_row`) and the re-dispatch LPs of
:mod:`solvers.grid_security` (:class:`solvers.grid_security.LpRows`).

Variables: ``facility[s, q]`` (site s's facility MW in the final period q, as in
:mod:`solvers.formulation`), ``redispatch[g]`` (plant g's change of output, MW, in
[lower_g, spare_g]) and ``raise[g]`` (its raised output, MW, in [0, spare_g]).

Families (the README's grid maths):

* ``grid_balance[component c]``: per connected component, re-dispatch serves exactly the new load
  drawn there (lossless DC);
* ``line_limit[l]``: |f0_l + PTDF_l . dP| <= max(rating_l, |f0_l|) (no harm);
* ``line_limit_n1[l,k]``: after losing line k, |f0_lk + (PTDF_l + LODF_lk PTDF_k) . dP| <=
  max(emergency_l, |f0_lk|);
* ``raise_def[g]``: raise_g >= redispatch_g, the output charged (lowering earns no credit).

The up-front yardstick states the same limits compactly, over flow variables ``flow[l]`` (as
PyPSA's security-constrained OPF does with its branch outage factors):

* ``line_flow[l]``: flow_l = f0_l + PTDF_l . dP (O(G + S) terms, once per line used);
* ``line_limit[l]`` on flow_l, and ``line_limit_n1[l,k]``: |flow_l + LODF_lk flow_k| <=
  max(emergency_l, |f0_lk|) (2 terms).

Each limit row is restricted to the plants and sites whose sensitivity exceeds ``COEF_EPS``: O(G + S)
terms. Complexity: O(G + S) per row, O(B) for the balance rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

from solvers.dcpf import GridModel
from solvers.formulation import MW, Ref, Row

COEF_EPS = 1e-9  # sensitivities below this are numerical noise, not physics


class Sensitivities(Protocol):
    grid: GridModel
    share: np.ndarray
    outages: np.ndarray
    lodf_cols: np.ndarray

    def row(self, l: int, j: int) -> tuple[np.ndarray, float, float]: ...

    def lifts(self, l: int, j: int) -> list[tuple[int, float, Ref]]: ...


def redispatch(g: int, q: int | None = None) -> Ref:
    """Plant g's re-dispatch (a rollout's in period q)."""
    return Ref("redispatch", (g,) if q is None else (g, q))


def raised(g: int, q: int | None = None) -> Ref:
    return Ref("raise", (g,) if q is None else (g, q))


def flow(l: int) -> Ref:
    return Ref("flow", (l,))


class GridRows:
    """The grid families of one period's network, row by row.

    ``last``: the period index of the facility variables the rows name. ``period``: None for the
    single-period model and the re-dispatch LPs (re-dispatch keyed by plant alone); a rollout's
    period index otherwise (re-dispatch keyed by plant and period). ``supply``: (site, MW, option
    ref) of the on-site or contracted supply in force in that period: a built one serves that much
    of the site's load off the grid, so the site draws facility - supply from its substations."""

    def __init__(
        self,
        sens: Sensitivities,
        last: int = 0,
        *,
        period: int | None = None,
        period_id: str = "",
        supply: tuple[tuple[int, float, Ref], ...] = (),
        lifted: frozenset[int] | None = None,
    ):
        self.sens, self.grid, self.last, self.period, self.supply = sens, sens.grid, last, period, supply
        # line reinforcements (the loop's ``uprates``): None writes each as its option's term (the
        # MILP); a set fixes those uprates built and the others not (a re-dispatch LP's constants)
        self.lifted = lifted
        self.tag: tuple[str, ...] = () if period is None else (period_id or str(period),)

    def facility(self, s: int) -> Ref:
        return Ref("facility", (s, self.last))

    def _redispatch(self, g: int) -> Ref:
        return redispatch(g, self.period)

    def _draw(self, s: int, coef: float) -> list[tuple[float, Ref]]:
        """``coef`` times site s's grid draw: its facility MW less the supply built there."""
        return [(coef, self.facility(s))] + [(-coef * mw, ref) for site, mw, ref in self.supply if site == s]

    def balance(self) -> Iterator[Row]:
        """Per connected component: re-dispatch serves exactly the new load drawn there."""
        g, share = self.grid, self.sens.share
        labels = g.components
        for c in np.unique(labels):
            plants = [(1.0, self._redispatch(i)) for i in range(len(g.plant_ids)) if labels[g.plant_bus[i]] == c]
            load = [
                term
                for s in range(share.shape[0])
                if (w := float(share[s, labels == c].sum())) > 0
                for term in self._draw(s, -w)
            ]
            where = f" in {self.tag[0]}" if self.tag else ""
            yield Row(
                "grid_balance",
                (f"component {c}", *self.tag),
                f"the plants of grid component {c} re-dispatch exactly the new load drawn there{where}",
                tuple(plants + load),
                0.0,
                0.0,
                unit=MW,
                explain=False,
            )

    def line_limit(self, l: int, j: int) -> Row:
        """Line l's no-harm limit in the base case (j = -1) or after outage column j (no reinforcement
        of l modelled as a decision: see :meth:`line_limits`)."""
        rows = self.line_limits(l, j)
        assert len(rows) == 1, "a reinforced line's limit is two rows: use line_limits"
        return rows[0]

    def line_limits(self, l: int, j: int) -> list[Row]:
        """Line l's no-harm limit in the base case (j = -1) or after outage column j. With a
        reinforcement u of l in the period's options (``lift_u`` MW more limit once built, the loop's
        :meth:`lift`), the limit is limit + sum_u lift_u option_u: two rows, |flow| on each side, each
        with the option terms (exact for binaries; options on one line exclude each other)."""
        a, const, limit = self.sens.row(l, j)
        lifts = self.sens.lifts(l, j)
        if self.lifted is not None:  # fixed: built uprates raise the constant limit
            limit += sum(d for u, d, _ in lifts if u in self.lifted)
            lifts = []
        family, entities, sentence = self._limit_words(l, j, limit)
        terms = tuple(self._injection_terms(a))
        if not lifts:
            return [Row(family, entities, sentence, terms, -limit - const, limit - const, unit=MW)]
        up = tuple((-d, ref) for _, d, ref in lifts)
        down = tuple((d, ref) for _, d, ref in lifts)
        reinforced = sentence + " (more once the line is reinforced)"
        return [
            Row(family, (*entities, "upper"), reinforced, terms + up, hi=limit - const, unit=MW),
            Row(family, (*entities, "lower"), reinforced, terms + down, lo=-limit - const, unit=MW),
        ]

    def flow_definition(self, l: int) -> Row:
        """``flow[l]`` = line l's base-case flow: f0_l + PTDF_l . dP (the compact form's definition)."""
        a, const, _ = self.sens.row(l, -1)
        line = self.grid.line_ids[l]
        terms = (*self._injection_terms(a), (-1.0, flow(l)))
        return Row(
            "line_flow", (line,), f"flow[{line}] is line {line}'s flow", terms, -const, -const, unit=MW, explain=False
        )

    def flow_limit(self, l: int, j: int) -> Row:
        """Line l's no-harm limit over the flow variables: |flow_l| (j = -1), or |flow_l + LODF_lk flow_k|
        after outage column j (k = outages[j]): the same limit as :meth:`line_limit`, in 1 or 2 terms."""
        _, _, limit = self.sens.row(l, j)
        family, entities, sentence = self._limit_words(l, j, limit)
        terms: tuple[tuple[float, Ref], ...] = ((1.0, flow(l)),)
        if j >= 0:
            terms += ((float(self.sens.lodf_cols[l, j]), flow(int(self.sens.outages[j]))),)
        return Row(family, entities, sentence, terms, -limit, limit, unit=MW)

    def _injection_terms(self, a: np.ndarray) -> list[tuple[float, Ref]]:
        """A bus-sensitivity vector as terms on the plants' re-dispatch and the sites' facility MW."""
        g, share = self.grid, self.sens.share
        terms: list[tuple[float, Ref]] = []
        for i, b in enumerate(g.plant_bus):
            c = a[b]
            if abs(c) > COEF_EPS:
                terms.append((float(c), self._redispatch(i)))
        site_coef = -(share @ a)
        for s, c in enumerate(site_coef):
            if abs(c) > COEF_EPS:
                terms += self._draw(s, float(c))
        return terms

    def _limit_words(self, l: int, j: int, limit: float) -> tuple[str, tuple[str, ...], str]:
        g = self.grid
        line = g.line_ids[l]
        entities: tuple[str, ...]
        tag = self.tag
        if j < 0:
            family, entities = "line_limit", (line, *tag)
            sentence = f"line {line} carries at most {limit:,.1f} MW (its rating, or its pre-existing flow if higher)"
            sentence += f" in {tag[0]}" if tag else ""
        else:
            out = g.line_ids[self.sens.outages[j]]
            family, entities = "line_limit_n1", (line, out, *tag)
            sentence = (
                f"line {line} carries at most {limit:,.1f} MW after losing line {out} "
                "(its emergency rating, or its pre-existing post-outage flow if higher)"
            ) + (f" in {tag[0]}" if tag else "")
        return family, entities, sentence

    def raise_definitions(self, usd_per_mw: np.ndarray) -> tuple[list[Row], list[tuple[float, Ref]]]:
        """Rows ``raise_g - redispatch_g >= 0`` for every plant with a positive price, and the
        objective terms ``usd_per_mw_g * raise_g`` (only raised output is charged). The translator
        holds ``raise[g]`` in [0, spare_g]."""
        g = self.grid
        rows, terms = [], []
        for i, pid in enumerate(g.plant_ids):
            if usd_per_mw[i] <= 0:
                continue
            rows.append(
                Row(
                    "raise_def",
                    (pid, *self.tag),
                    f"plant {pid}'s charged output is at least its re-dispatch",
                    ((1.0, raised(i, self.period)), (-1.0, self._redispatch(i))),
                    lo=0.0,
                    unit=MW,
                    explain=False,
                )
            )
            terms.append((float(usd_per_mw[i]), raised(i, self.period)))
        return rows, terms
