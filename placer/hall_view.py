"""The hall view of a laid-out site as an SVG: every rack position of every hall, row by row.

Input: a plan with a rack-level layout (``plan.layout``, :mod:`placer.plan_layout`), a site id and a
colour per tenant. Output: SVG bytes, one square per rack position coloured by the tenant whose
rack stands there (grey outline: empty), halls stacked top to bottom with their MW and rack counts,
and a legend. For the HTML report (:mod:`placer.html_report`); the CLI's text version is
:func:`placer.cli_layout.print_hall_view`.

Complexity: O(racks + positions drawn) for the site.
"""

from __future__ import annotations

from html import escape

from placer.plan import Plan

CELL = 6  # px per rack position
GAP = 1


def _hex(rgba: tuple) -> str:
    r, g, b = (int(round(255 * c)) for c in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def smallest_site(plan: Plan) -> str | None:
    """The laid-out site with the fewest racks (ties by id): the one whose view reads at a glance."""
    if plan.layout is None or not plan.layout.racks:
        return None
    counts: dict[str, int] = {}
    for r in plan.layout.racks:
        counts[r.site] = counts.get(r.site, 0) + 1
    return min(counts, key=lambda s: (counts[s], s))


def hall_view_svg(plan: Plan, site: str, colours: dict[str, tuple]) -> bytes:
    """The site's halls as an SVG (see the module docstring). Raises ValueError for a site the plan
    does not lay out."""
    assert plan.layout is not None, "a hall view needs the plan's layout"
    table = next((s for s in plan.layout.sites if s.site == site), None)
    if table is None:
        raise ValueError(f"the plan lays out no racks at '{site}'")
    racks = [r for r in plan.layout.racks if r.site == site]
    where = {(r.hall, r.row, r.position): r.tenant for r in racks}
    tenants = sorted({r.tenant for r in racks})
    parts: list[str] = []
    y = 16
    width = 0
    empty = [hall.hall for hall in table.halls if hall.racks == 0]
    for hall in table.halls:
        if hall.racks == 0:
            continue  # listed once below
        used = [(row, pos) for (h, row, pos) in where if h == hall.hall]
        rows = max((row for row, _ in used), default=0)
        cols = max((pos for _, pos in used), default=0)
        parts.append(
            f'<text x="0" y="{y}" font-size="11">{escape(hall.hall)}: {hall.racks:,} racks, '
            f"{hall.it_power_mw:.1f} MW IT</text>"
        )
        y += 6
        for row in range(1, rows + 1):
            for pos in range(1, cols + 1):
                tenant = where.get((hall.hall, row, pos))
                x = (pos - 1) * (CELL + GAP)
                cell_y = y + (row - 1) * (CELL + GAP)
                if tenant is None:
                    parts.append(
                        f'<rect x="{x}" y="{cell_y}" width="{CELL}" height="{CELL}" fill="none" stroke="#ccc"/>'
                    )
                else:
                    parts.append(
                        f'<rect x="{x}" y="{cell_y}" width="{CELL}" height="{CELL}" '
                        f'fill="{_hex(colours.get(tenant, (0.5, 0.5, 0.5)))}"/>'
                    )
        width = max(width, cols * (CELL + GAP))
        y += rows * (CELL + GAP) + 18
    if empty:
        parts.append(f'<text x="0" y="{y}" font-size="11">empty halls: {escape(", ".join(empty))}</text>')
        y += 18
    x = 0
    for tenant in tenants:  # the legend
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{_hex(colours.get(tenant, (0.5,) * 3))}"/>')
        parts.append(f'<text x="{x + 14}" y="{y + 9}" font-size="11">{escape(tenant)}</text>')
        x += 14 + 8 * len(tenant) + 16
    width, height = max(width, x, 200), y + 16
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">{body}</svg>'
    ).encode()
