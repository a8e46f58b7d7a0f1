"""The sweep file (``placer sweep SWEEP.yaml``): a base scenario and the cases to run, as pydantic models,
and their expansion into cases (each a list of :class:`placer.overrides.Override`).

```yaml
base: korea-2025               # a built-in scenario, or a file (relative to the sweep file)
solver: {engine: auto, time_limit_s: 20, workers: 1, seed: 0}
fixed: ["policy.grid.security=n-0"]      # PATH=VALUE applied to every case (optional)
grid:                          # the cartesian product of these parameters ...
  - {kind: path, path: policy.power_band_mw.max_mw, values: [600, 620, 640]}
  - {kind: pue, values: [1.1, 1.2, 1.3]}
sample:                        # ... or a seeded random sample (one of grid / sample)
  n: 20
  seed: 0
  parameters:
    - {kind: pue, distribution: uniform, low: 1.1, high: 1.4}
```

Parameter kinds (each gives one column of the result table, named by ``name`` or its default):

* ``path``: one field by its path (``values``, or a distribution);
* ``pue``: every site's PUE (or those in ``sites``) set to the value;
* ``energy_price_scale`` / ``capex_scale``: every site's energy price / capex per MW times the value;
* ``band``: the power band's ``max_mw`` (``min_mw`` too, when ``min_mw`` is given);
* ``sites_removed``: each site (or those in ``sites``) removed in turn, and the base (``none``) unless
  ``include_base: false``; a removed site takes its feeds, fiber and rollout entries with it;
* ``rollout_delay``: each staged site's energisation stages ``quarters`` later (default 1), one site
  at a time, and the base; a stage pushed past the last period is dropped.

Distributions (sample): ``uniform`` and ``loguniform`` (``low``, ``high``), ``normal`` (``mean``, ``sd``,
clipped to ``low``/``high`` when given), ``randint`` (``low``..``high`` inclusive), ``choice``
(``values``; for ``sites_removed`` and ``rollout_delay`` the sites). A sampled float is rounded to
``digits`` (default 6) so the case, its digest and its table row are reproducible as written.

Complexity: expansion is O(cases x overrides per case); validating one case is one schema pass.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from placer import overrides as ov
from placer.errors import InputError
from placer.scenario import Identifier, Scenario

MAX_CASES = 1_000_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SolverSpec(_Model):
    """How every case is solved. ``workers`` is also the CPUs each Ray task reserves."""

    engine: Literal["auto", "cpsat", "milp", "scip", "greedy"] = "auto"
    time_limit_s: Annotated[float, Strict(), Field(gt=0, le=1e6, allow_inf_nan=False)] = Field(
        60.0, description="per case, seconds"
    )
    workers: Annotated[int, Strict(), Field(ge=1, le=256)] = Field(
        1, description="solver threads per case = CPUs its Ray task reserves (1-256)"
    )
    seed: Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)] = 0
    option_worth: Annotated[bool, Strict()] = Field(
        False, description="rollouts with options: also each built option's worth (extra re-schedules per case)"
    )


Kind = Literal["path", "pue", "energy_price_scale", "capex_scale", "band", "sites_removed", "rollout_delay"]
Distribution = Literal["uniform", "loguniform", "normal", "randint", "choice"]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]


class Parameter(_Model):
    """One swept parameter: ``values`` in a grid, or a ``distribution`` in a sample."""

    kind: Kind
    name: Identifier | None = Field(None, description="its column in the result table; a default per kind")
    path: str | None = Field(None, description="kind path: the field, e.g. topology.nodes[id=sejong].pue")
    values: list[Any] | None = Field(None, description="grid values (or choices of a 'choice' distribution)")
    sites: list[Identifier] | None = Field(None, description="the sites it applies to; all when omitted")
    include_base: Annotated[bool, Strict()] = Field(True, description="sites_removed / rollout_delay: also the base")
    quarters: Annotated[int, Strict(), Field(ge=1, le=100)] = Field(1, description="rollout_delay: quarters late")
    min_mw: Number | None = Field(None, description="band: the band's min_mw in every case")
    distribution: Distribution | None = None
    low: Number | None = None
    high: Number | None = None
    mean: Number | None = None
    sd: Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)] | None = None
    digits: Annotated[int, Strict(), Field(ge=0, le=15)] = Field(6, description="sampled floats rounded to this")

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        if self.kind == "path" and not self.path:
            raise ValueError("a 'path' parameter needs path (e.g. policy.power_band_mw.max_mw)")
        if self.kind != "path" and self.path is not None:
            raise ValueError(f"a '{self.kind}' parameter takes no path (its kind says what it changes)")
        if self.kind == "path":
            try:
                ov.parse_path(self.path or "", where="path")
            except InputError as exc:
                raise ValueError(f"path {self.path!r}: {exc.message}") from None
        if self.values is not None and not self.values:
            raise ValueError("values is empty")
        d = self.distribution
        if d in ("uniform", "loguniform", "randint") and (self.low is None or self.high is None):
            raise ValueError(f"a {d} distribution needs low and high")
        if d in ("uniform", "loguniform", "randint") and self.low is not None and self.high is not None:
            if self.low > self.high:
                raise ValueError(f"low {self.low:g} exceeds high {self.high:g}")
            if d == "loguniform" and self.low <= 0:
                raise ValueError("a loguniform distribution needs low > 0")
        if d == "normal" and (self.mean is None or self.sd is None):
            raise ValueError("a normal distribution needs mean and sd")
        if d == "choice" and self.values is None and self.kind not in ("sites_removed", "rollout_delay"):
            raise ValueError("a choice distribution needs values")
        return self

    @property
    def column(self) -> str:
        default = {
            "path": self.path or "",
            "pue": "pue",
            "energy_price_scale": "energy_price_scale",
            "capex_scale": "capex_scale",
            "band": "band_max_mw",
            "sites_removed": "site_removed",
            "rollout_delay": "site_delayed",
        }
        return self.name or default[self.kind]


class Sample(_Model):
    n: Annotated[int, Strict(), Field(ge=1, le=MAX_CASES)] = Field(description="cases to draw")
    seed: Annotated[int, Strict(), Field(ge=0, le=2**63 - 1)] = 0
    parameters: list[Parameter] = Field(min_length=1)


class SweepFile(_Model):
    base: str = Field(min_length=1, description="a built-in scenario name or a scenario file (relative to this file)")
    solver: SolverSpec = Field(default_factory=SolverSpec)
    fixed: list[Annotated[str, Field(max_length=10_000)]] = Field(
        default_factory=list, description="PATH=VALUE overrides applied to every case, before its own"
    )
    grid: list[Parameter] | None = Field(None, min_length=1, description="cases: the cartesian product of these")
    sample: Sample | None = None

    @model_validator(mode="after")
    def _grid_or_sample(self) -> SweepFile:
        if (self.grid is None) == (self.sample is None):
            raise ValueError("give exactly one of grid (a cartesian product) or sample (a seeded random sample)")
        for i, p in enumerate(self.grid or []):
            if p.values is None and p.kind not in ("sites_removed", "rollout_delay"):
                raise ValueError(f"grid[{i}]: a grid parameter needs values")
            if p.distribution is not None:
                raise ValueError(f"grid[{i}]: a distribution belongs in sample, a grid takes values")
        for i, p in enumerate(self.sample.parameters if self.sample else []):
            if p.distribution is None:
                raise ValueError(f"sample.parameters[{i}]: a sampled parameter needs a distribution")
        params = self.grid or (self.sample.parameters if self.sample else [])
        columns = [p.column for p in params]
        for c in columns:
            if columns.count(c) > 1:
                raise ValueError(f"two parameters have the column '{c}'; give one a name")
        return self


def sweep_json_schema() -> dict:
    return SweepFile.model_json_schema()


@dataclass
class Case:
    """One case: its position, its value per parameter column, and the overrides that make it."""

    index: int
    labels: dict[str, Any]
    overrides: list[ov.Override] = field(default_factory=list)
    # A site removed may leave a tenant no allowed region: such a case is a finding (a row with
    # status INVALID), not a bad sweep file.
    removes: bool = False


# ---------------------------------------------------------------------------- expansion


def _sites(base: Scenario, p: Parameter, where: str) -> list[str]:
    ids = [s.id for s in base.topology.sites]
    if p.sites is None:
        return ids
    for s in p.sites:
        if s not in ids:
            raise InputError(f"{where}.sites: '{s}' is not a site of the base scenario")
    return list(p.sites)


def _node_path(site: str) -> str:
    return f"topology.nodes[id={site}]"


def _delay_overrides(base: Scenario, site: str, quarters: int) -> list[ov.Override]:
    r = base.rollout
    assert r is not None
    out = []
    # Highest index first: a dropped stage (null) does not shift the indices still to come.
    for i in reversed(range(len(r.site_stages))):
        st = r.site_stages[i]
        if st.site != site:
            continue
        later = r.periods.index(st.period) + quarters
        value = r.periods[later] if later < len(r.periods) else None
        out.append(ov.make(f"rollout.site_stages[{i}].period", value))
    return out


def _staged_sites(base: Scenario, p: Parameter, where: str) -> list[str]:
    if base.rollout is None or not base.rollout.site_stages:
        raise InputError(f"{where}: rollout_delay needs a base scenario with a rollout and site stages")
    staged = list(dict.fromkeys(st.site for st in base.rollout.site_stages))
    if p.sites is None:
        return staged
    for s in p.sites:
        if s not in staged:
            raise InputError(f"{where}.sites: '{s}' has no rollout stages to delay (staged: {', '.join(staged)})")
    return list(p.sites)


def _effect(base: Scenario, p: Parameter, value: Any, where: str) -> tuple[Any, list[ov.Override]]:
    """The label and overrides of parameter ``p`` at ``value``."""
    if p.kind == "path":
        return value, [ov.make(p.path or "", value)]
    if p.kind == "pue":
        return value, [ov.make(f"{_node_path(s)}.pue", value) for s in _sites(base, p, where)]
    if p.kind in ("energy_price_scale", "capex_scale"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InputError(f"{where}: a scale is a number (got {value!r})")
        field_name = "energy_price_usd_per_mwh" if p.kind == "energy_price_scale" else "capex_usd_per_mw"
        by_id = {s.id: s for s in base.topology.sites}
        return value, [
            ov.make(f"{_node_path(s)}.{field_name}", round(getattr(by_id[s], field_name) * value, 6))
            for s in _sites(base, p, where)
        ]
    if p.kind == "band":
        out = [ov.make("policy.power_band_mw.max_mw", value)]
        if p.min_mw is not None:
            out.insert(0, ov.make("policy.power_band_mw.min_mw", p.min_mw))
        return value, out
    if p.kind == "sites_removed":
        return (value or "none"), ([] if value is None else [ov.make(_node_path(value), None)])
    if p.kind == "rollout_delay":
        return (value or "none"), ([] if value is None else _delay_overrides(base, value, p.quarters))
    raise AssertionError(p.kind)


def _grid_values(base: Scenario, p: Parameter, where: str) -> list[Any]:
    if p.kind == "sites_removed":
        return ([None] if p.include_base else []) + _sites(base, p, where)
    if p.kind == "rollout_delay":
        return ([None] if p.include_base else []) + _staged_sites(base, p, where)
    assert p.values is not None
    return list(p.values)


def _draw(rng: random.Random, base: Scenario, p: Parameter, where: str) -> Any:
    d = p.distribution
    if d == "choice":
        if p.values is not None:
            return rng.choice(p.values)
        return rng.choice(_grid_values(base, p, where))
    if d == "randint":
        assert p.low is not None and p.high is not None
        return rng.randint(math.ceil(p.low), math.floor(p.high))
    if d == "uniform":
        assert p.low is not None and p.high is not None
        x = rng.uniform(p.low, p.high)
    elif d == "loguniform":
        assert p.low is not None and p.high is not None
        x = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
    else:
        assert p.mean is not None and p.sd is not None
        x = rng.gauss(p.mean, p.sd)
        x = max(x, p.low) if p.low is not None else x
        x = min(x, p.high) if p.high is not None else x
    return round(x, p.digits)


def expand(sweep: SweepFile, base: Scenario) -> list[Case]:
    """Every case of the sweep, in order: grid cases in row-major order of the parameters, or the
    sample's ``n`` draws from ``random.Random(seed)``. ``fixed`` overrides come first in each case.
    Raises :class:`InputError` (where = the parameter) for a site or stage the base does not have."""
    fixed = [ov.parse(t) for t in sweep.fixed]
    cases: list[Case] = []
    if sweep.grid is not None:
        axes = [_grid_values(base, p, f"grid[{i}]") for i, p in enumerate(sweep.grid)]
        total = math.prod(len(a) for a in axes)
        if total > MAX_CASES:
            raise InputError(f"the grid has {total:,} cases; at most {MAX_CASES:,}", where="grid")
        for n, combo in enumerate(itertools.product(*axes)):
            case = Case(n, {}, list(fixed))
            for i, (p, value) in enumerate(zip(sweep.grid, combo)):
                label, more = _effect(base, p, value, f"grid[{i}]")
                case.labels[p.column] = label
                case.overrides += more
                case.removes |= p.kind == "sites_removed" and value is not None
            cases.append(case)
        return cases
    assert sweep.sample is not None
    rng = random.Random(sweep.sample.seed)
    for n in range(sweep.sample.n):
        case = Case(n, {}, list(fixed))
        for i, p in enumerate(sweep.sample.parameters):
            where = f"sample.parameters[{i}]"
            value = _draw(rng, base, p, where)
            label, more = _effect(base, p, value, where)
            case.labels[p.column] = label
            case.overrides += more
            case.removes |= p.kind == "sites_removed" and value is not None
        cases.append(case)
    return cases


def load_sweep(path: str | Path) -> SweepFile:
    """Read and validate a sweep file (YAML or JSON); :class:`InputError` naming the file and path."""
    from placer.io import parse_model, read_document

    return parse_model(SweepFile, read_document(path), str(path))
