"""Integer scaling for CP-SAT: MW to watts, USD to whole dollars, rounded on the safe side.

CP-SAT works on integers. Power is modelled in watts (W_PER_MW) and money in whole
dollars. For a constraint ``sum(coef * x) <= limit`` the coefficients are rounded up and
the limit down; for ``>=`` the reverse. A plan feasible for the integer model is then
feasible in floating point, which is what the verifier checks.

:func:`check_linear` guards against int64 overflow: CP-SAT requires every partial sum
of a linear expression to fit in int64; we insist on sum(|coef| * ub) < 2**62.
"""

from __future__ import annotations

import math

W_PER_MW = 1_000_000
OVERFLOW_LIMIT = 2**62


class ScalingError(ValueError):
    """A linear expression could overflow int64 in CP-SAT."""


def up_w(mw: float) -> int:
    return math.ceil(mw * W_PER_MW - 1e-6)


def down_w(mw: float) -> int:
    return math.floor(mw * W_PER_MW + 1e-6)


def check_linear(name: str, coefs: list[int], upper_bounds: list[int], rhs: int = 0) -> int:
    """Return max |sum|; raise :class:`ScalingError` naming the constraint when it could overflow."""
    worst = abs(rhs) + sum(abs(c) * ub for c, ub in zip(coefs, upper_bounds))
    if worst >= OVERFLOW_LIMIT:
        raise ScalingError(f"constraint '{name}' could reach {worst:.3e} > 2^62 in CP-SAT's int64 arithmetic")
    return worst
