"""Wall time of whole ``placer`` commands, as a new user runs them (start-up, solve, verify, write).

``python -m benchmarks.cli_wall --repeat 5 --out DIR`` times, each ``--repeat`` times in a fresh
process: ``placer solve korea-2025 -o plan.json`` (the README's reference command), and the two
infeasible korea-2025 variants of issue 9 (every site capacity / 10, and a 500-580 MW band),
written out from the built-in scenario. It records every time, the median and each run's exit
code in ``results.json`` and ``results.md`` with the exact command and the machine.

Complexity: ``repeat`` x (number of commands) processes; about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.runner import machine_info


def _variants(tmp: Path) -> dict[str, Path]:
    from placer.io import dump_model
    from topologies import builtin_scenario

    k10 = builtin_scenario("korea-2025").model_copy(deep=True)
    for site in k10.topology.sites:
        site.it_capacity_mw /= 10
        site.liquid_cooling_mw /= 10
        site.air_cooling_mw /= 10
    band = builtin_scenario("korea-2025").model_copy(deep=True)
    band.policy.power_band_mw.min_mw, band.policy.power_band_mw.max_mw = 500.0, 580.0
    paths = {"korea-2025-capacity-div10": tmp / "k10.yaml", "korea-2025-band-500-580": tmp / "kband.yaml"}
    dump_model(k10, paths["korea-2025-capacity-div10"])
    dump_model(band, paths["korea-2025-band-500-580"])
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cases = {
            "korea-2025": (
                "placer solve korea-2025 -o plan.json",
                ["solve", "korea-2025", "-o", str(tmp / "plan.json")],
            )
        }
        cases.update(
            {name: (f"placer solve {path.name}", ["solve", str(path)]) for name, path in _variants(tmp).items()}
        )
        for name, (shown, cli_args) in cases.items():
            times, codes = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "placer", *cli_args], capture_output=True, text=True)
                times.append(round(time.perf_counter() - t0, 3))
                codes.append(proc.returncode)
            records.append(
                {
                    "case": name,
                    "command": shown,
                    "wall_seconds": times,
                    "median_s": statistics.median(times),
                    "exit_codes": codes,
                }
            )
    command = "python -m benchmarks.cli_wall " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / "results.json").write_text(
        json.dumps({"command": command, "machine": machine_info(), "records": records}, indent=2) + "\n"
    )
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {machine_info()}",
        "",
        "| case | command | wall s (each run) | median s | exit codes |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['case']} | `{r['command']}` | {', '.join(f'{t:.2f}' for t in r['wall_seconds'])} | "
        f"{r['median_s']:.2f} | {', '.join(map(str, r['exit_codes']))} |"
        for r in records
    ]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
