"""Solvers: a scenario in, a plan out.

``solve(scenario, solver="auto")`` is the one entry point. ``auto`` (the default) picks
``milp`` when line flows are part of the problem and ``cpsat`` otherwise
(:func:`choose_engine`; the plan's ``summary.engine_choice`` says which and why). Engines:

* ``cpsat``  -- CP-SAT on integer racks (exact, with bound and gap), hinted by greedy;
  it does not model line flows: on a scenario with lines the placement is followed by
  a least-cost re-dispatch LP under the same no-harm loop, and the verifier judges it;
* ``milp``   -- MILP through MathOpt/HiGHS with grid limits (base case and N-1) added
  lazily by a contingency loop;
* ``scip``   -- the same MILP through MathOpt/SCIP;
* ``greedy`` -- the cheapest-site-first baseline (re-dispatch as for cpsat).

Every engine follows one contract (:mod:`solvers.engine`): it declares its capabilities, returns
an :class:`~solvers.engine.EngineResult`, and :func:`solvers.assemble.assemble_plan` builds the
plan from it in one place (including the re-dispatch after a grid-blind placement).

Solver options (time limit, workers, seed) come from ``scenario.policy.solver``;
override them with ``time_limit_s``, ``workers`` and ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable

from placer.errors import InputError
from placer.plan import Plan
from placer.scenario import Scenario
from solvers import engines as _engines  # noqa: F401  (registering the engines is importing them)
from solvers.assemble import assemble_plan
from solvers.engine import REGISTRY, Capabilities, Engine, EngineResult
from solvers.greedy import greedy_racks
from solvers.options import greedy_options, with_options
from solvers.precheck import raise_if_infeasible
from solvers.problem import build_problem, final_scenario

ENGINES = REGISTRY  # the ``--solver`` names, in the order offered (a read-only mapping name -> Engine)
AUTO = "auto"


def choose_engine(scenario: Scenario) -> tuple[str, str]:
    """The engine ``auto`` runs for this scenario, and why (one sentence for the plan).

    The grid-aware MILP whenever line flows are part of the problem (the topology has
    lines and ``policy.grid.security`` is not ``none``): CP-SAT cannot hold line limits
    while placing, so its plan could be insecure or priced by a re-dispatch chosen after
    the fact. CP-SAT otherwise: integer racks and its portfolio search suit the pure
    placement. O(E) for E edges."""
    from solvers.grid_security import has_grid

    sc = final_scenario(scenario)
    security = sc.policy.grid.security
    n_lines = len(sc.topology.edges_of_kind("line"))
    if has_grid(sc) and security != "none":
        return "milp", (
            f"auto: the topology has {n_lines:,} lines and grid.security is '{security}', so the "
            "grid-aware MILP (HiGHS) places under line limits"
        )
    why = "grid.security is 'none'" if n_lines else "the topology has no lines"
    return "cpsat", f"auto: {why}, so CP-SAT places without line flows"


def solve(
    scenario: Scenario,
    solver: str | Engine = AUTO,
    *,
    time_limit_s: float | None = None,
    workers: int | None = None,
    seed: int | None = None,
    deterministic: bool | None = None,
    on_progress: Callable[[dict], None] | None = None,
    option_worth: bool = True,
    previous: Plan | None = None,
    move_cost_usd_per_rack: float | None = None,
    freeze: list[str] | tuple[str, ...] = (),
    marginals: bool = False,
) -> Plan:
    """Place the scenario's demand with the named engine and return the plan.

    ``solver`` may also be an :class:`~solvers.engine.Engine` instance (the benchmarks' up-front N-1
    yardstick, ``MilpEngine(..., n1_mode="upfront")``, is not a ``--solver`` name).

    ``option_worth``: for a rollout with power options, also evaluate what each built option is worth
    against the same placement without it (:mod:`solvers.worth`; one short CP-SAT re-schedule per
    option) and rank them in ``plan.build_first``.

    ``previous``: re-plan from that plan (:mod:`solvers.replan`): racks below its count at a site cost
    ``move_cost_usd_per_rack`` each (one-off USD, annualised in the objective; default
    :data:`solvers.replan.DEFAULT_MOVE_COST_USD_PER_RACK`), and the ``freeze`` sites keep their racks.

    ``marginals``: for a single-period plan, also the marginal values of its binding limits
    (:mod:`solvers.duals`: LP duals with the plan's binaries fixed) in ``plan.marginal_values``.

    Raises :class:`placer.errors.InfeasibleError` (with reasons) when no placement exists
    and :class:`placer.errors.NoSolutionError` when none was found in the time limit.
    """
    given = solver if isinstance(solver, Engine) else None
    name = solver.name if isinstance(solver, Engine) else solver
    if given is None and name != AUTO and name not in ENGINES:
        raise InputError(f"unknown solver '{solver}'; choose one of {', '.join((AUTO, *ENGINES))}", where="--solver")
    overrides = {
        k: v
        for k, v in (
            ("time_limit_s", time_limit_s),
            ("workers", workers),
            ("seed", seed),
            ("deterministic", deterministic),
        )
        if v is not None
    }
    if overrides:
        # Validated like the file itself: --workers 257 or seed=2**32 is refused, naming the option.
        options = scenario.policy.solver.with_overrides(**overrides)
        scenario = scenario.model_copy(deep=True)
        scenario.policy.solver = options
    if name == AUTO:
        name, choice = choose_engine(scenario)
    else:
        choice = f"requested: --solver {name}"
    problem = build_problem(scenario)
    if previous is None and (freeze or move_cost_usd_per_rack is not None):
        raise InputError("--freeze and --move-cost re-plan from a previous plan: give it with --from", where="--from")
    if previous is not None:
        from solvers.replan import DEFAULT_MOVE_COST_USD_PER_RACK, replan_from

        if name == "greedy":
            raise InputError("re-planning (--from) needs an exact engine (cpsat, milp, scip); greedy ignores moves")
        cost = DEFAULT_MOVE_COST_USD_PER_RACK if move_cost_usd_per_rack is None else move_cost_usd_per_rack
        problem.replan = replan_from(problem, previous, cost, list(freeze))
    # Aggregate pre-check (solvers/precheck.py): the common causes of infeasibility, proven by
    # arithmetic in milliseconds and explained with numbers, before any engine runs.
    raise_if_infeasible(problem)
    engine = given or REGISTRY[name]
    if problem.replan is not None and given is None and name in ("milp", "scip"):
        from solvers.replan_engine import ReplanMilpEngine

        engine = ReplanMilpEngine(REGISTRY[name])
    # The greedy placement starts the engines that take hints (CP-SAT uses even a partial one).
    # (with the greedy baseline's power options built: solvers.options.greedy_options)
    hint = (
        greedy_racks(with_options(problem, greedy_options(problem.options)))[0] if engine.capabilities.hints else None
    )
    if problem.replan is not None and engine.capabilities.hints:
        from solvers.replan import previous_hint

        hint = previous_hint(problem) or hint  # the previous placement, when it still places the demand
    result = engine.solve(problem, hint=hint, on_progress=on_progress)
    plan = assemble_plan(problem, result, engine.capabilities, engine_choice=choice)
    if previous is not None and previous.scenario != scenario.name:
        plan.summary.notes.append(
            f"re-plan: the previous plan was solved for scenario '{previous.scenario}', this one is '{scenario.name}'"
        )
    if problem.replan is not None and plan.investments:
        plan.summary.notes.append("option worth: not evaluated for a re-plan (its NPV carries the move cost)")
    elif (
        option_worth
        and plan.investments
        and plan.npv is not None
        and result.schedule is not None
        and not result.interrupted  # Ctrl-C: the user wants the plan now, not more solves
    ):
        _add_worth(problem, result, plan)
    if marginals and not result.interrupted:
        from solvers.duals import marginal_values

        red = {r.plant: r.mw for r in plan.grid.redispatch} if plan.grid is not None else None
        try:
            plan.marginal_values = marginal_values(
                problem,
                result.racks,
                redispatch_mw=red,
                schedule=result.schedule,
                options=result.options,
                time_limit_s=scenario.policy.solver.time_limit_s,
            )
        except RuntimeError as exc:  # e.g. an insecure grid-blind plan: its fixed-binary LP has no solution
            plan.summary.notes.append(f"marginal values not computed: {exc}")
    return plan


def _add_worth(problem, result: EngineResult, plan: Plan) -> None:
    """Each built option's worth into ``plan.investments`` and the ranked ``plan.build_first``."""
    from solvers.options import built_periods
    from solvers.worth import build_first, option_worth

    assert plan.npv is not None and plan.investments is not None
    built = built_periods(result.options, len(problem.options), problem.periods.count)
    # each quarter's re-dispatch as the plan has it (held fixed in the comparisons: see solvers/worth.py)
    redispatch = result.redispatch_by_period_usd_per_year or ()
    worth = option_worth(problem, result.racks, built, plan.npv, plan.summary.stranded_gpu_quarters or 0, redispatch)
    by_id = {problem.options[o].id: w for o, w in worth.items()}
    for inv in plan.investments:
        inv.worth = by_id.get(inv.option)
    plan.build_first = build_first(plan.investments)
    base = next(iter(worth.values()), None)
    if base is not None and base.npv_with_usd < plan.npv.total_usd:
        plan.summary.notes.append(
            f"option worth: re-scheduling this placement with the same options finds an NPV "
            f"${(plan.npv.total_usd - base.npv_with_usd) / 1e6:,.1f}M lower than the plan's (its baseline)"
        )


__all__ = ["AUTO", "ENGINES", "REGISTRY", "Capabilities", "Engine", "EngineResult", "choose_engine", "solve"]
