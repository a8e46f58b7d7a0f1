"""Judge recorded benchmark results against the performance targets, saying by how much each
is met or missed.

``python -m benchmarks.targets RESULTS.json ... --out targets.md``

Input: ``results.json`` files written by :mod:`benchmarks.runner`. Output: a Markdown table
(and the same rows as JSON next to it) with, per target and solver, the measured figure,
the limit and the margin. Nothing is re-run: the verdicts are about the recorded runs,
on the machine named in each file.

Targets (issue 10, on a 2-core machine; they supersede issue 5's looser ones):

* korea-2025 OPTIMAL, and the whole ``placer solve korea-2025 -o plan.json`` command in
  <= 5 s wall, median of 5 runs (records of :mod:`benchmarks.cli_wall`);
* large (``syn-s500-g1m``) within 0.5 % gap in <= 120 s, verified;
* xl (``syn-s1000-g2.6m``) within 1 % gap in <= 120 s, verified;
* every ``pglib-n1`` case (the PGLib grids of 2,000-3,000 buses, 50 sites, N-1) secure, verified
  and within 0.1 % in <= 120 s, and the lazy loop >= 10x faster than the up-front yardstick on
  every case where both ran (``n1_pairs``; a capped up-front run gives a lower bound "≥");
* the verifier in <= 2 s on xl (issue 5, kept);
* peak memory while building no more than the memory while solving (every run).

A run counts as "in time" when its solve finished within the limit plus 5 % (the engines stop
at their time limit; the contingency loop's last screen and the report add a little).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SLACK = 1.05


def _records(paths: list[Path]) -> list[dict]:
    out = []
    for path in paths:
        data = json.loads(path.read_text())
        for rec in data["records"]:
            out.append({**rec, "source": str(path)})
        for pair in data.get("n1_pairs", []):
            out.append({**pair, "kind": "n1_pair", "source": str(path)})
    return out


N1_GAP, N1_SECONDS, N1_RATIO = 0.001, 120.0, 10.0


def _n1_targets(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        if r.get("suite") != "pglib-n1" or r.get("kind") == "n1_pair" or r.get("solver") != "milp":
            continue
        gap, solve_s = r.get("gap"), r.get("engine_wall_seconds", r.get("solve_seconds"))
        secure, valid = r.get("n_minus_1") == "secure", r.get("valid") is True
        met = gap is not None and gap <= N1_GAP + 1e-12 and solve_s is not None and solve_s <= N1_SECONDS * SLACK
        met = met and secure and valid
        measured = (
            f"no plan ({r.get('status', '-')})"
            if gap is None or solve_s is None
            else f"{r.get('status')} gap {100 * gap:.3f} % in {solve_s:.0f} s, {r.get('n_minus_1')}"
            + ("" if valid else ", plan not verified")
        )
        out.append(
            {
                "target": f"{r['case']}: secure, verified, within 0.1 % in <= 120 s",
                "solver": "milp",
                "measured": measured,
                "met": met,
                "margin": f"{solve_s - N1_SECONDS:+.0f} s" if solve_s is not None else "-",
            }
        )
    for r in rows:
        if r.get("kind") != "n1_pair":
            continue
        ratio, lower = float(r["ratio"]), bool(r.get("ratio_is_lower_bound"))
        out.append(
            {
                "target": f"{r['case']}: lazy N-1 >= {N1_RATIO:g}x faster than up-front",
                "solver": "milp",
                "measured": f"{'≥ ' if lower else ''}{ratio:.1f}x (up-front {r.get('upfront_status')} after "
                f"{r['upfront_engine_wall_seconds']:.0f} s, lazy {r.get('lazy_status')} in "
                f"{r['lazy_engine_wall_seconds']:.1f} s)",
                "met": ratio >= N1_RATIO,  # a lower bound at or above the target proves it; below it proves nothing
                "margin": f"{ratio - N1_RATIO:+.1f}x" + (" (lower bound)" if lower else ""),
            }
        )
    return out


def _gap_target(rows: list[dict], case: str, gap_limit: float, seconds: float, label: str) -> list[dict]:
    out = []
    for r in rows:
        if r.get("case") != case or r.get("solver") == "greedy":
            continue
        gap, solve_s = r.get("gap"), r.get("solve_seconds")
        valid = r.get("valid") is True
        met = (
            gap is not None
            and gap <= gap_limit + 1e-12
            and solve_s is not None
            and solve_s <= seconds * SLACK
            and valid
        )
        if gap is None or solve_s is None:
            measured = f"no plan ({r.get('status', '-')})"
        else:
            measured = f"gap {100 * gap:.2f} % in {solve_s:.0f} s" + ("" if valid else ", plan not verified")
        margin = f"{100 * (gap - gap_limit):+.2f} pp" if gap is not None else "-"
        out.append({"target": label, "solver": r["solver"], "measured": measured, "met": met, "margin": margin})
    return out


KOREA_WALL_S = 5.0


def _korea_targets(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        if r.get("case") == "korea-2025" and r.get("solver") not in (None, "greedy"):
            status = r.get("status")
            out.append(
                {
                    "target": "korea-2025 OPTIMAL",
                    "solver": r["solver"],
                    "measured": str(status),
                    "met": status == "OPTIMAL" and r.get("valid") is True,
                    "margin": "-",
                }
            )
        if r.get("case") == "korea-2025" and "median_s" in r:  # a benchmarks.cli_wall record
            median = float(r["median_s"])
            runs = ", ".join(f"{w:.2f}" for w in r.get("wall_seconds", []))
            ok = all(code == 0 for code in r.get("exit_codes", [1]))
            out.append(
                {
                    "target": f"korea-2025 whole `{r.get('command')}` <= {KOREA_WALL_S:g} s wall (median)",
                    "solver": "default",
                    "measured": f"median {median:.2f} s ({runs})" + ("" if ok else ", a run failed"),
                    "met": ok and median <= KOREA_WALL_S,
                    "margin": f"{median - KOREA_WALL_S:+.2f} s",
                }
            )
    return out


def judge(rows: list[dict]) -> list[dict]:
    out = _korea_targets(rows)
    out += _gap_target(rows, "syn-s500-g1m", 0.005, 120.0, "large within 0.5 % gap in <= 120 s, verified")
    out += _gap_target(rows, "syn-s1000-g2.6m", 0.01, 120.0, "xl within 1 % gap in <= 120 s, verified")
    out += _n1_targets(rows)
    for r in rows:
        if r.get("case") == "syn-s1000-g2.6m" and r.get("verify_seconds") is not None:
            v = r["verify_seconds"]
            out.append(
                {
                    "target": "verifier in <= 2 s on xl",
                    "solver": r["solver"],
                    "measured": f"{v:.2f} s",
                    "met": v <= 2.0,
                    "margin": f"{v - 2.0:+.2f} s",
                }
            )
    ratios = [(r["build_to_solve_memory_ratio"], r) for r in rows if r.get("build_to_solve_memory_ratio") is not None]
    if ratios:
        worst, rec = max(ratios, key=lambda x: x[0])
        out.append(
            {
                "target": "build peak RSS <= solve peak RSS (every run)",
                "solver": "all",
                "measured": f"worst {worst:.2f}x ({rec['case']}, {rec['solver']}) over {len(ratios)} runs",
                "met": worst <= 1.0,
                "margin": f"{worst - 1.0:+.2f}x",
            }
        )
    return out


def render(verdicts: list[dict], sources: list[Path], out: Path | None = None) -> str:
    command = "python -m benchmarks.targets " + " ".join(str(p) for p in sources) + (f" --out {out}" if out else "")
    lines = [
        "# Targets against the recorded results",
        "",
        f"Command: `{command}`",
        "",
        "Each verdict is about the recorded run on the machine named in its results file.",
        "",
        "| target | solver | measured | met | margin |",
        "|---|---|---|---|---|",
    ]
    for v in verdicts:
        lines.append(
            f"| {v['target']} | {v['solver']} | {v['measured']} | {'yes' if v['met'] else '**no**'} | {v['margin']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.targets", description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="results.json files")
    ap.add_argument("--out", type=Path, required=True, help="Markdown file to write (JSON beside it)")
    args = ap.parse_args(argv)
    missing = [p for p in args.results if not p.is_file()]
    if missing:
        ap.error(f"{missing[0]}: no such results file")
    verdicts = judge(_records(args.results))
    args.out.write_text(render(verdicts, args.results, args.out))
    args.out.with_suffix(".json").write_text(json.dumps(verdicts, indent=1) + "\n")
    print(render(verdicts, args.results, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
