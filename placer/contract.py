"""The solver-verifier contract: constants and rules both sides must agree on, defined once.

A plan is judged by the verifier (``placer/verify*.py``, ``placer/grid_check.py``), which
never imports ``solvers/``; the solvers never import the verifier. What they must still
agree on -- how many hours a year has, how much slack a limit gets, how a site's load is
split over its feeds, what a line may carry after an outage, what a plant costs when the
scenario does not say -- lives here, in the schema layer, and both import it
(``tests/test_import_rules.py`` enforces the import rules).

Only *definitions* live here. The computations stay independent: the verifier keeps its
own flows, outages, paths and arithmetic (``math.fsum`` over its own feed lists, say),
so a bug in a solver's computation is not repeated in the check of it.

Complexity: every function is O(number of its arguments).
"""

from __future__ import annotations

from collections.abc import Sequence

from placer.scenario import Line, Plant

# ---- time and money -------------------------------------------------------------
# Hours in the (non-leap) year that annualizes energy and re-dispatch cost:
# USD/yr = MW x utilization x HOURS_PER_YEAR x USD/MWh.
HOURS_PER_YEAR = 8760.0

# ---- net present value (rollouts) ---------------------------------------------------
# A rollout's money is one unit, USD present value at the start of its first quarter. Every
# cash flow of quarter q (0 = the first) is discounted by quarter_discount_factor(q, ...): a
# quarter's capex and its operating cost alike are counted at the quarter's start.
QUARTER_LENGTH_YEARS = 0.25


def quarter_discount_factor(q: int, discount_rate_per_year: float, quarter_length_years: float) -> float:
    """(1 + r) ** -(q * L): the present value of one USD paid at the start of quarter q. O(1)."""
    return float((1.0 + discount_rate_per_year) ** (-(q * quarter_length_years)))


def capital_charge_usd_per_quarter(
    price_usd: float, life_years: float, discount_rate_per_year: float, quarter_length_years: float
) -> float:
    """What an asset of ``price_usd`` costs per quarter it is owned: depreciation plus financing,
    the level payment that repays the price over its life at the discount rate (an annuity with
    quarterly rate i = (1 + r) ** L - 1 over n = life / L quarters; price / n when r = 0). The
    charge of a delivered GPU that is not live. O(1)."""
    n = life_years / quarter_length_years
    i = (1.0 + discount_rate_per_year) ** quarter_length_years - 1.0
    if i == 0:
        return price_usd / n
    return float(price_usd * i / (1.0 - (1.0 + i) ** (-n)))


# The rollout's NPV terms, in the order a plan reports them (USD, present value).
NPV_TERMS = (
    "facility_capex",
    "energy",
    "site_fixed",
    "tenant_spread",
    "region_surcharge",
    "idle_gpu_capital",
    "redispatch",
    "option_capex",
    "option_fixed",
    "onsite_energy",
)


# A re-plan's one-off cost of moving racks (``solve --from``): a cost term (annualised by the CRF) of a
# single period, an NPV term (undiscounted: the re-plan is made now, at the start of the first quarter)
# of a rollout. Present only in re-plans.
MOVES_TERM = "moves"


# ---- tolerances -----------------------------------------------------------------
# A plan is within an upper limit when measured <= limit + LIMIT_REL_TOL x max(1, |limit|)
# (a lower limit likewise). The solver may use this slack (the infeasibility pre-check
# does), so a plan the verifier accepts is never reported as impossible.
LIMIT_REL_TOL = 1e-6
# A reported MW figure matches the verifier's recomputation within rel/abs these.
MW_REL_TOL, MW_ABS_TOL = 1e-6, 1e-6
# A reported USD/yr figure matches within rel 1e-6 and 1 USD absolute.
USD_REL_TOL, USD_ABS_TOL = 1e-6, 1.0


def limit_slack(limit: float) -> float:
    """Absolute slack of a limit: LIMIT_REL_TOL x max(1, |limit|). O(1)."""
    return LIMIT_REL_TOL * max(1.0, abs(limit))


# ---- feeds (the FEED_CAPACITY and SUBSTATION_HEADROOM rules) ----------------------
def feed_shares(capacities_mw: Sequence[float]) -> list[float]:
    """The rule for splitting a site's facility load over its feeds: each feed carries the
    share capacity / total capacity (in the order given). O(n)."""
    total = sum(capacities_mw)
    return [c / total for c in capacities_mw]


def n1_feed_limit_mw(capacities_mw: Sequence[float]) -> float:
    """The N-1 feed rule: the facility power a site's feeds carry after losing the largest
    one -- total minus the largest; a single feed carries its own capacity; none carry 0. O(n)."""
    if not capacities_mw:
        return 0.0
    if len(capacities_mw) == 1:
        return float(capacities_mw[0])
    return float(sum(capacities_mw) - max(capacities_mw))


# ---- the grid -------------------------------------------------------------------
# Overload penalty of the relaxed pre-existing OPF, USD per MWh of overload: it decides
# which relaxed optimum is least-cost, so solver and verifier must use the same figure.
OVERLOAD_PENALTY_USD_PER_MWH = 1.0e5

# Solvability (each side computes it its own way): a reduced bus susceptance matrix whose
# condition number exceeds COND_MAX is treated as singular -- the PGLib cases with negative
# reactances have 6e6 (case1888_rte) to 2e7 (case4661_sdet); at 1e10 double-precision flows
# still agree to ~1e-6 relative. After losing line k the matrix is B - b_k a_k a_k^T, whose
# determinant is det(B) (1 - b_k a_k^T B^-1 a_k): in a grid with a negative susceptance, a
# non-islanding outage with |1 - b_k a_k^T B^-1 a_k| below OUTAGE_DENOMINATOR_MIN leaves it
# singular (PGLib's smallest is 3e-4, case3012wp_k; the value carries ~cond(B) x 1e-16 of
# rounding). With every b > 0 the post-outage B of a non-islanding outage is positive
# definite, so no check is made (a near-bridge has a small but true value).
COND_MAX = 1e10
OUTAGE_DENOMINATOR_MIN = 1e-8

# Marginal generation cost by plant type, USD/MWh, used when a plant gives no
# cost_usd_per_mwh. Round figures for merit order only: fuel + variable O&M, no carbon.
DEFAULT_COST_USD_PER_MWH: dict[str, float] = {
    "nuclear": 10.0,
    "coal": 40.0,
    "lng": 80.0,
    "oil": 120.0,
    "hydro": 5.0,
    "solar": 0.0,
    "wind": 0.0,
    "other": 60.0,
}


def plant_cost_usd_per_mwh(plant: Plant) -> float:
    """The plant's marginal cost: its own figure, else the default for its type, else 'other'. O(1)."""
    if plant.cost_usd_per_mwh is not None:
        return float(plant.cost_usd_per_mwh)
    return DEFAULT_COST_USD_PER_MWH.get(plant.type.lower(), DEFAULT_COST_USD_PER_MWH["other"])


def emergency_rating_mw(line: Line) -> float:
    """Post-contingency rating; a line without one is held to its normal rating. O(1)."""
    return float(line.emergency_rating_mw if line.emergency_rating_mw is not None else line.rating_mw)


__all__ = [
    "MOVES_TERM",
    "NPV_TERMS",
    "QUARTER_LENGTH_YEARS",
    "capital_charge_usd_per_quarter",
    "quarter_discount_factor",
    "COND_MAX",
    "DEFAULT_COST_USD_PER_MWH",
    "HOURS_PER_YEAR",
    "LIMIT_REL_TOL",
    "MW_ABS_TOL",
    "MW_REL_TOL",
    "OUTAGE_DENOMINATOR_MIN",
    "OVERLOAD_PENALTY_USD_PER_MWH",
    "USD_ABS_TOL",
    "USD_REL_TOL",
    "emergency_rating_mw",
    "feed_shares",
    "limit_slack",
    "n1_feed_limit_mw",
    "plant_cost_usd_per_mwh",
]
