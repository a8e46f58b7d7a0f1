"""A plan as files other tools read: CSV (a directory or a zip), Excel, GeoJSON.

:func:`plan_tables` turns a plan (with its scenario, for names, regions and coordinates) into named
tables, each a list of columns and rows of plain values; the CSV and Excel writers write exactly
those tables, and the HTML report shows them. Units are in the column names; annual money
(``usd_per_year``) and a rollout's present values (``usd``, table ``npv_terms``) sit in separate
tables and are never summed together.

Tables: ``summary`` (one row per figure), ``assignments``, ``sites``, ``substations``,
``cost_terms`` (annual; a rollout's final build-out run rate), and where the plan has them
``npv_terms``, ``schedule`` (per quarter: delivered, live, stranded), ``schedule_racks`` (per
quarter and tenant/SKU/site: racks live and going live), ``site_periods`` (per quarter and site:
power used and available), ``grid_periods`` (per quarter of a rollout on a grid: its N-1 verdict,
most loaded line in the base case and after an outage, the line with the least MW left,
re-dispatch; :func:`quarter_grids`),
``investments`` (power options built, with their worth) and ``lines`` (base and worst N-1 loading
of the final build-out, :mod:`placer.line_loading`).

:func:`geojson` is a FeatureCollection (RFC 7946, lon/lat) of sites (GPUs, racks, MW, utilisation,
GPUs per tenant), substations (new load, headroom), plants (re-dispatch), metros, lines (base and
worst N-1 loading), feeds and fiber.

Every writer builds its whole output in memory and writes it atomically (a temporary file, or a
temporary directory, renamed into place): a failed export leaves no half-written file.

Complexity: O(A + S + P·K + E²) for A assignments, S sites, P periods of K rack keys and E lines
(the N-1 screen).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from placer.errors import InputError
from placer.io import _umask, atomic_write_bytes, atomic_write_text, check_output_path
from placer.line_loading import line_loadings
from placer.plan import GridReport, Plan
from placer.scenario import Scenario

Table = tuple[list[str], list[list[Any]]]
FORMATS = ("csv", "xlsx", "geojson")


def _share(used: float, available: float) -> float | None:
    return used / available if available > 0 else None


def tenant_gpus_by_site(plan: Plan) -> dict[str, dict[str, int]]:
    """GPUs per site and tenant, ``{site: {tenant: gpus}}``, tenants in plan order. O(A)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for a in plan.assignments:
        if a.gpus:
            out[a.site][a.tenant] += a.gpus
    return {s: dict(t) for s, t in out.items()}


@dataclass(frozen=True)
class QuarterGrid:
    """One quarter's grid, read from its report (``schedule[q].grid``; the last quarter's is ``plan.grid``)."""

    period: str
    security: str
    n_minus_1: str  # secure, insecure, not_checked
    violations: int  # no-harm violations left in the quarter
    base_line: str | None  # the most loaded line in the base case
    base_loading_pct: float | None
    n1_line: str | None  # the most loaded line after an outage
    n1_outage: str | None
    n1_loading_pct: float | None
    redispatch_mw: float  # net change of plant output for the new load (its cost: the NPV's redispatch term)
    least_margin_mw: float | None  # the least MW any listed line has left (base or post-outage limit)
    least_margin_line: str | None
    least_margin_outage: str | None


GRID_PERIOD_COLUMNS = [
    "period",
    "security",
    "n_minus_1",
    "violations",
    "worst_base_line",
    "worst_base_loading_pct",
    "worst_n1_line",
    "worst_n1_outage",
    "worst_n1_loading_pct",
    "redispatch_mw",
    "least_margin_mw",
    "least_margin_line",
    "least_margin_outage",
]


def _quarter(period: str, g: GridReport) -> QuarterGrid:
    base = max(g.lines, key=lambda lf: lf.loading_pct, default=None)
    post = g.worst_contingencies[0] if g.worst_contingencies else None  # listed worst first
    # the line with the least MW left: a next rack of more facility MW than that could break it
    margins: list[tuple[float, str, str | None]] = [(lf.limit_mw - abs(lf.flow_mw), lf.line, None) for lf in g.lines]
    margins += [(c.limit_mw - abs(c.flow_mw), c.line, c.outage) for c in g.worst_contingencies]
    tight = min(margins, key=lambda m: m[0], default=None)
    return QuarterGrid(
        period=period,
        security=g.security,
        n_minus_1=g.n_minus_1,
        violations=len(g.violations),
        base_line=base.line if base else None,
        base_loading_pct=base.loading_pct if base else None,
        n1_line=post.line if post else None,
        n1_outage=post.outage if post else None,
        n1_loading_pct=post.loading_pct if post else None,
        redispatch_mw=math.fsum(r.mw for r in g.redispatch),
        least_margin_mw=tight[0] if tight else None,
        least_margin_line=tight[1] if tight else None,
        least_margin_outage=tight[2] if tight else None,
    )


def quarter_grids(plan: Plan) -> list[QuarterGrid]:
    """Per quarter of a rollout, its grid as its report states it, in schedule order; quarters
    without a report are left out ([] for a single period or a rollout without a grid). O(P·L)."""
    if not plan.schedule:
        return []
    reports = [rep.grid for rep in plan.schedule[:-1]] + [plan.grid]
    return [_quarter(rep.period, g) for rep, g in zip(plan.schedule, reports) if g is not None]


def plan_tables(scenario: Scenario, plan: Plan) -> dict[str, Table]:
    """The plan's named tables (see the module docstring), in a fixed order. O(A + S + P·K + E²)."""
    s = plan.summary
    tables: dict[str, Table] = {}
    rows: list[list[Any]] = [
        ["scenario", plan.scenario, ""],
        ["scenario_digest", plan.scenario_digest, ""],
        ["solver", f"{s.solver} ({s.solver_version})", ""],
        ["status", s.status + (" (interrupted)" if s.interrupted else ""), ""],
        ["objective", s.objective, s.objective_unit],
        ["bound", s.bound, s.objective_unit],
        ["gap", s.gap, "share"],
        ["gpus_placed", s.gpus_placed, "GPUs"],
        ["racks_placed", s.racks_placed, "racks"],
        ["it_power_mw", s.it_power_mw, "MW"],
        ["facility_power_mw", s.facility_power_mw, "MW"],
        ["power_band_min_mw", s.power_band_mw[0], "MW"],
        ["power_band_max_mw", s.power_band_mw[1], "MW"],
        ["cost_per_year_usd", math.fsum(c.usd_per_year for c in plan.cost_breakdown), "usd_per_year"],
    ]
    if plan.schedule:
        rows.append(["stranded_gpu_quarters", s.stranded_gpu_quarters, "GPU-quarters"])
    tables["summary"] = (["figure", "value", "unit"], rows)

    tables["assignments"] = (
        ["tenant", "sku", "site", "racks", "gpus", "it_power_mw", "facility_power_mw"],
        [[a.tenant, a.sku, a.site, a.racks, a.gpus, a.it_power_mw, a.facility_power_mw] for a in plan.assignments],
    )

    nodes = {n.id: n for n in scenario.topology.nodes}
    tenants = tenant_gpus_by_site(plan)
    site_rows = []
    for sl in plan.sites:
        node = nodes.get(sl.site)
        site_rows.append(
            [
                sl.site,
                getattr(node, "region", ""),
                getattr(node, "lat", None),
                getattr(node, "lon", None),
                sl.racks,
                sl.gpus,
                "; ".join(f"{t} {g}" for t, g in tenants.get(sl.site, {}).items()),
                sl.it_power_mw,
                sl.it_capacity_mw,
                _share(sl.it_power_mw, sl.it_capacity_mw),
                sl.facility_power_mw,
                sl.feed_n1_capacity_mw,
                sl.liquid_heat_mw,
                sl.liquid_cooling_mw,
                sl.air_heat_mw,
                sl.air_cooling_mw,
            ]
        )
    tables["sites"] = (
        [
            "site",
            "region",
            "lat",
            "lon",
            "racks",
            "gpus",
            "gpus_by_tenant",
            "it_power_mw",
            "it_capacity_mw",
            "it_utilisation",
            "facility_power_mw",
            "feed_n1_capacity_mw",
            "liquid_heat_mw",
            "liquid_cooling_mw",
            "air_heat_mw",
            "air_cooling_mw",
        ],
        site_rows,
    )
    tables["substations"] = (
        ["substation", "load_mw", "headroom_mw", "headroom_used"],
        [[b.substation, b.load_mw, b.headroom_mw, _share(b.load_mw, b.headroom_mw)] for b in plan.substations],
    )
    tables["cost_terms"] = (
        ["term", "usd_per_year", "description"],
        [[c.name, c.usd_per_year, c.description] for c in plan.cost_breakdown],
    )
    if plan.npv is not None:
        tables["npv_terms"] = (
            ["term", "usd", "description"],
            [[t.name, t.usd, t.description] for t in plan.npv.terms] + [["total", plan.npv.total_usd, "NPV"]],
        )
    if plan.schedule:
        tables["schedule"] = (
            ["period", "gpus_delivered", "gpus_live", "gpus_stranded", "gpus_going_live"],
            [
                [p.period, p.gpus_delivered, p.gpus_live, p.gpus_stranded, sum(g.gpus for g in p.going_live)]
                for p in plan.schedule
            ],
        )
        racks_rows = []
        for p in plan.schedule:
            going = {f"{g.tenant}/{g.sku}/{g.site}": g.racks for g in p.going_live}
            for key, n in sorted(p.installed_racks.items()):
                tenant, sku, site = key.split("/")
                racks_rows.append([p.period, tenant, sku, site, n, going.get(key, 0)])
        tables["schedule_racks"] = (
            ["period", "tenant", "sku", "site", "racks_live", "racks_going_live"],
            racks_rows,
        )
        tables["site_periods"] = (
            ["period", "site", "it_power_mw", "it_available_mw", "facility_power_mw", "facility_available_mw"],
            [
                [p.period, sp.site, sp.it_power_mw, sp.it_available_mw, sp.facility_power_mw, sp.facility_available_mw]
                for p in plan.schedule
                for sp in p.sites
            ],
        )
    grids = quarter_grids(plan)
    if grids:
        tables["grid_periods"] = (
            GRID_PERIOD_COLUMNS,
            [
                [
                    g.period,
                    g.security,
                    g.n_minus_1,
                    g.violations,
                    g.base_line,
                    g.base_loading_pct,
                    g.n1_line,
                    g.n1_outage,
                    g.n1_loading_pct,
                    g.redispatch_mw,
                    g.least_margin_mw,
                    g.least_margin_line,
                    g.least_margin_outage,
                ]
                for g in grids
            ],
        )
    if plan.investments:
        tables["investments"] = (
            [
                "option",
                "kind",
                "period",
                "capex_usd",
                "fixed_usd_per_year",
                "npv_saved_usd",
                "stranded_gpu_quarters_saved",
                "worth_status",
            ],
            [
                [
                    inv.option,
                    inv.kind,
                    inv.period,
                    inv.capex_usd,
                    inv.fixed_usd_per_year,
                    inv.worth.npv_saved_usd if inv.worth else None,
                    inv.worth.stranded_gpu_quarters_saved if inv.worth else None,
                    inv.worth.status if inv.worth else "",
                ]
                for inv in plan.investments
            ],
        )
    loads = line_loadings(scenario, plan)
    if loads:
        tables["lines"] = (
            [
                "line",
                "from",
                "to",
                "rating_mw",
                "emergency_rating_mw",
                "flow_mw",
                "loading_pct",
                "monitored",
                "n1_flow_mw",
                "n1_loading_pct",
                "n1_outage",
            ],
            [
                [
                    ln.line,
                    ln.from_node,
                    ln.to_node,
                    ln.rating_mw,
                    ln.emergency_rating_mw,
                    ln.flow_mw,
                    ln.loading_pct,
                    ln.monitored,
                    ln.n1_flow_mw,
                    ln.n1_loading_pct,
                    ln.n1_outage,
                ]
                for ln in loads
            ],
        )
    return tables


# --------------------------------------------------------------------------- CSV


def _csv_text(table: Table) -> str:
    columns, rows = table
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])  # str(float) is its repr: it reads back exactly
    return buf.getvalue()


def write_csv(tables: dict[str, Table], path: str | Path) -> list[str]:
    """Write one CSV per table: into a zip when ``path`` ends in ``.zip``, else into a directory.

    A directory is built beside the target and renamed into place. An existing target directory is
    replaced only when it holds nothing but ``.csv`` files (a previous export); anything else there is
    refused, so an export never deletes a user's other files. Floats read back exactly. Returns the file names written. O(size of the tables)."""
    target = Path(path)
    names = [f"{name}.csv" for name in tables]
    if target.suffix.lower() == ".zip":
        check_output_path(target)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, table in tables.items():
                # a fixed timestamp: the same plan gives the same zip, byte for byte
                info = zipfile.ZipInfo(f"{name}.csv", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, _csv_text(table))
        atomic_write_bytes(target, buf.getvalue())
        return names
    if str(path).strip() in ("", "."):
        raise InputError("the output path (-o) is empty; give a directory or a .zip file name")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InputError("output directory does not exist", file=str(path))
    if target.exists() and not target.is_dir():
        raise InputError("exists and is not a directory; give a new directory or a .zip file name", file=str(path))
    if target.is_dir():
        others = sorted(p.name for p in target.iterdir() if not (p.is_file() and p.suffix == ".csv"))
        if others:
            raise InputError(
                f"directory holds files other than CSVs ({', '.join(others[:3])}); give a new or empty directory",
                file=str(path),
            )
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
    old = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        for name, table in tables.items():
            atomic_write_text(tmp / f"{name}.csv", _csv_text(table))
        if target.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.rmdir(old)
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException as exc:
        if old is not None and old.exists() and not target.exists():
            os.replace(old, target)  # put the previous export back
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return names


# --------------------------------------------------------------------------- Excel


def write_xlsx(tables: dict[str, Table], path: str | Path) -> None:
    """One worksheet per table (header row bold and frozen), written atomically. O(size of the tables)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    check_output_path(path)
    wb = Workbook()
    first = True
    for name, (columns, rows) in tables.items():
        ws = wb.active if first else wb.create_sheet()
        first = False
        assert ws is not None  # a new workbook has one sheet
        ws.title = name[:31]  # Excel's limit on sheet names
        ws.append(columns)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for row in rows:
            ws.append([_excel_value(v) for v in row])
        for i, col in enumerate(columns, start=1):
            width = max([len(col)] + [len(str(r[i - 1])) for r in rows[:200]])
            ws.column_dimensions[get_column_letter(i)].width = min(60, width + 2)
    buf = io.BytesIO()
    wb.save(buf)
    atomic_write_bytes(path, buf.getvalue())


def _excel_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # Excel has no NaN or infinity
    return v


# --------------------------------------------------------------------------- GeoJSON


def _point(node, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": f"{node.kind}:{node.id}",
        "geometry": {"type": "Point", "coordinates": [node.lon, node.lat]},
        "properties": {"kind": node.kind, "id": node.id, "name": node.name, **props},
    }


def _segment(fid: str, a, b, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "LineString", "coordinates": [[a.lon, a.lat], [b.lon, b.lat]]},
        "properties": props,
    }


def geojson(scenario: Scenario, plan: Plan) -> dict[str, Any]:
    """The plan on the scenario's map as a GeoJSON FeatureCollection (RFC 7946: [lon, lat]).

    Feature ids are ``kind:id``; every feature's ``properties.kind`` says what it is. The
    collection's ``placer`` member names the scenario, its digest and the plan's headline
    figures. O(N + E²) for N nodes and E lines."""
    topo = scenario.topology
    nodes = {n.id: n for n in topo.nodes}
    loads = {sl.site: sl for sl in plan.sites}
    tenants = tenant_gpus_by_site(plan)
    first_live: dict[str, str] = {}
    for p in plan.schedule or []:
        for g in p.going_live:
            first_live.setdefault(g.site, p.period)
    features: list[dict[str, Any]] = []
    for site in topo.sites:
        sl = loads.get(site.id)
        used = sl is not None and sl.racks > 0
        props: dict[str, Any] = {
            "region": site.region,
            "used": used,
            "racks": sl.racks if sl else 0,
            "gpus": sl.gpus if sl else 0,
            "gpus_by_tenant": tenants.get(site.id, {}),
            "it_power_mw": sl.it_power_mw if sl else 0.0,
            "it_capacity_mw": sl.it_capacity_mw if sl else site.it_capacity_mw,  # a rollout's: the final build-out's
            "it_utilisation": _share(sl.it_power_mw, sl.it_capacity_mw) if sl else 0.0,
            "facility_power_mw": sl.facility_power_mw if sl else 0.0,
            "feed_n1_capacity_mw": sl.feed_n1_capacity_mw if sl else None,
            "pue": site.pue,
        }
        if plan.schedule:
            props["first_live_period"] = first_live.get(site.id)
        features.append(_point(site, props))
    sub_loads = {b.substation: b for b in plan.substations}
    for sub in topo.substations:
        b = sub_loads.get(sub.id)
        new_load = b.load_mw if b else 0.0
        features.append(
            _point(
                sub,
                {
                    "kv": sub.kv,
                    "new_load_mw": new_load,
                    "headroom_mw": sub.headroom_mw,
                    "headroom_used": _share(new_load, sub.headroom_mw),
                    "existing_load_mw": sub.load_mw,
                },
            )
        )
    redispatch = {r.plant: r.mw for r in plan.grid.redispatch} if plan.grid else {}
    for plant in topo.plants:
        features.append(
            _point(
                plant,
                {
                    "type": plant.type,
                    "capacity_mw": plant.capacity_mw,
                    "spare_mw": plant.spare_mw,
                    "redispatch_mw": redispatch.get(plant.id, 0.0),
                },
            )
        )
    for metro in topo.metros:
        features.append(_point(metro, {}))
    for ln in line_loadings(scenario, plan):
        features.append(
            _segment(
                ln.line,
                nodes[ln.from_node],
                nodes[ln.to_node],
                {
                    "kind": "line",
                    "id": ln.line,
                    "from": ln.from_node,
                    "to": ln.to_node,
                    "rating_mw": ln.rating_mw,
                    "emergency_rating_mw": ln.emergency_rating_mw,
                    "flow_mw": ln.flow_mw,
                    "loading_pct": ln.loading_pct,
                    "monitored": ln.monitored,
                    "n1_flow_mw": ln.n1_flow_mw,
                    "n1_loading_pct": ln.n1_loading_pct,
                    "n1_outage": ln.n1_outage,
                },
            )
        )
    if plan.grid is None:  # no grid report: the lines without loadings
        for e in topo.edges_of_kind("line"):
            features.append(
                _segment(
                    e.id,
                    nodes[e.from_node],
                    nodes[e.to_node],
                    {"kind": "line", "id": e.id, "from": e.from_node, "to": e.to_node, "rating_mw": e.rating_mw},
                )
            )
    for e in topo.edges_of_kind("feed"):
        features.append(
            _segment(
                e.id,
                nodes[e.from_node],
                nodes[e.to_node],
                {"kind": "feed", "id": e.id, "from": e.from_node, "to": e.to_node, "capacity_mw": e.capacity_mw},
            )
        )
    for e in topo.edges_of_kind("fiber"):
        latency = e.latency_ms if e.latency_ms is not None else e.length_km * scenario.policy.fiber_ms_per_km
        features.append(
            _segment(
                e.id,
                nodes[e.from_node],
                nodes[e.to_node],
                {
                    "kind": "fiber",
                    "id": e.id,
                    "from": e.from_node,
                    "to": e.to_node,
                    "length_km": e.length_km,
                    "latency_ms": latency,
                },
            )
        )
    s = plan.summary
    return {
        "type": "FeatureCollection",
        "placer": {
            "scenario": plan.scenario,
            "scenario_digest": plan.scenario_digest,
            "status": s.status,
            "objective": s.objective,
            "objective_unit": s.objective_unit,
            "gpus_placed": s.gpus_placed,
            "facility_power_mw": s.facility_power_mw,
            "n_minus_1": plan.grid.n_minus_1 if plan.grid else None,
        },
        "features": features,
    }


def write_geojson(scenario: Scenario, plan: Plan, path: str | Path) -> int:
    """Write :func:`geojson` atomically; returns the number of features. Non-finite numbers (a plan
    may carry them) are written as null, since JSON has none."""
    data = geojson(scenario, plan)
    text = json.dumps(_finite(data), indent=1, allow_nan=False) + "\n"
    atomic_write_text(path, text)
    return len(data["features"])


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def export(scenario: Scenario, plan: Plan, fmt: str, path: str | Path) -> str:
    """Write ``plan`` in format ``fmt`` (csv, xlsx, geojson) to ``path``; returns a one-line summary."""
    if fmt == "geojson":
        n = write_geojson(scenario, plan, path)
        return f"{n} features"
    tables = plan_tables(scenario, plan)
    if fmt == "xlsx":
        write_xlsx(tables, path)
        return f"{len(tables)} sheets: {', '.join(tables)}"
    if fmt == "csv":
        write_csv(tables, path)
        return f"{len(tables)} CSV files: {', '.join(f'{n}.csv' for n in tables)}"
    raise InputError(f"unknown format '{fmt}'; give one of {', '.join(FORMATS)}", where="--format")
