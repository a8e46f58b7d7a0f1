"""Fuzz suite: mutated scenarios, plans and options through the real CLI never break placer.

Counts (asserted below): 360 mutated scenarios (``solve``), 120 mutated plans (``verify``), 60 bad
command-line options, plus 8 real subprocesses (SIGINT during a CP-SAT and a HiGHS solve, a
closed stdout pipe, a FIFO given as a scenario, the umask twice, and a deep JSON and --workers
257 through the console-script path).

Mutations are drawn by a seeded ``random.Random`` (SEED below), so CI runs the same cases every
time; they are applied to every ``tests/data/*.yaml`` scenario and to a real plan solved from
``tiny.yaml``, ``grid_mesh.yaml`` (grid section) and ``rollout_multi.yaml`` (schedule):
type swaps (bool, numeric string, null, list, mapping), magnitudes (0, -1, 1e-300,
1e300, inf, nan, 2**63, a float where an int is wanted), deep nesting (100 to 100,000 levels),
long and odd ids (100,000 characters, ``:sun:``, rich markup, newlines, unicode), removed,
duplicated and unknown keys, duplicated list elements, YAML 1.1 literals (``yes``, ``on``),
swapped kinds, empty, truncated and non-mapping documents.

The oracle, for every case: an exit code in {0, 1, 2, 3, 4}; never a traceback or a Python
warning; exit 2 (bad input) and 1 and 4 print exactly one line on stderr, ``error: ...``; exit 3
prints that line plus its bullet reasons; nothing is written on a non-zero exit; a written plan
loads. Where a mutation is certainly invalid (a bool or a string where a number goes, inf or nan,
1e300 outside the grid helper's ``Line`` fields, a 100,000-character id, a duplicate key, deep
nesting) the exit code must be 2 and the line must name the file.

A hypothesis property (derandomized, 60 examples) puts arbitrary JSON values into numeric
fields and checks exit 2 exactly when the value is not a number of the field's type and range.

Most cases run in-process through :func:`placer.cli.main` (the console script's entry point,
the same error path) to keep the module well under 90 s; solves use ``--time-limit 2``.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from placer import cli
from tests.helpers import DATA, REPO

SEED = 20261201
N_SCENARIOS = 360
N_PLANS = 120
BASES = sorted(DATA.glob("*.yaml"))
ALLOWED = {0, 1, 2, 3, 4}
SENTINEL = "__FUZZ_DEEP__"


# --------------------------------------------------------------------------- running the CLI


HANG_S = 30.0


class Hang(BaseException):
    """Raised by SIGALRM in a case that ran past HANG_S (a BaseException: the CLI must not catch it)."""


def _hang(signum, frame):
    raise Hang(f"no answer within {HANG_S:g} s")


def run_inprocess(*argv: str) -> tuple[int, str, str]:
    """``placer ARGV`` through the console script's entry point: (exit code, stdout, stderr).

    Python warnings count as stderr lines (a numpy divide-by-zero warning is output too)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    previous = signal.signal(signal.SIGALRM, _hang)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)  # a hang fails the case instead of blocking CI
    with warnings.catch_warnings(record=True) as caught, redirect_stdout(out), redirect_stderr(err):
        warnings.simplefilter("always")
        try:
            cli.main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    stderr = err.getvalue() + "".join(
        f"{w.category.__name__}: {w.message}\n" for w in caught if not issubclass(w.category, DeprecationWarning)
    )
    return code, out.getvalue(), stderr


def judge(
    code: int, stdout: str, stderr: str, output: Path | None, *, must_fail: bool, file: str | None, verify: bool = False
) -> list[str]:
    """Everything wrong with one run (empty list: clean). ``verify``: exit 1 means violations,
    listed on stdout, with nothing on stderr."""
    problems = []
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if code not in ALLOWED:
        problems.append(f"exit {code}")
    if "Traceback" in stderr or "Traceback" in stdout:
        problems.append("traceback")
    if code == 0 and lines:
        problems.append(f"exit 0 with stderr {lines[:2]}")
    if verify and code == 1:
        if lines or not ("invalid" in stdout or '"valid": false' in stdout):
            problems.append(f"verify exit 1 without the violations on stdout (stderr {lines[:1]})")
        return problems
    if code in (1, 2, 4) and len(lines) != 1:
        problems.append(f"exit {code} with {len(lines)} stderr lines: {[ln[:120] for ln in lines[:3]]}")
    if code == 3 and not (lines and all(ln.startswith("  ") for ln in lines[1:])):
        problems.append(f"exit 3 with stderr {[ln[:120] for ln in lines[:3]]}")
    if code != 0 and (not lines or not lines[0].startswith("error: ")):
        problems.append(f"exit {code} without an 'error:' line: {lines[:1]}")
    if code != 0 and output is not None and output.exists():
        problems.append(f"exit {code} but {output.name} was written")
    if code == 0 and output is not None:
        from placer.io import load_plan

        load_plan(output)
    if must_fail and code != 2:
        problems.append(f"expected exit 2, got {code}")
    if must_fail and code == 2 and file is not None and file not in stderr:
        problems.append(f"the error line does not name the file: {lines[:1]}")
    if any(len(ln) > 2_000 for ln in lines):
        problems.append("an error line over 2,000 characters")
    return problems


# --------------------------------------------------------------------------- mutations

TYPE_SWAPS = [True, False, "100", "1e3", None, [1], {"value": 1}, "yes"]
MAGNITUDES = [0, -1, 1e-300, 1e300, math.inf, -math.inf, math.nan, 2**63, 10**30, 0.5, -0.0]
ODD_STRINGS = ["", "x" * 100_000, ":sun:", "[red]x[/red]", "a\nb", "Ünïcødé", "a b", "../../etc", 7, None, True]
DEEP = [100, 3_000, 100_000]


def nodes(doc, path=()):
    """Every (path, value) in a document, containers included."""
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from nodes(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from nodes(v, (*path, i))


def get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def put(doc, path, value):
    get(doc, path[:-1])[path[-1]] = value


def in_line(doc, path) -> bool:
    """Whether the path lies inside a `kind: line` edge (the grid helper's Line class)."""
    return len(path) > 3 and path[:2] == ("topology", "edges") and get(doc, path[:3]).get("kind") == "line"


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def render(doc, fmt: str, deep: int | None = None) -> str:
    text = json.dumps(doc, indent=1) if fmt == "json" else yaml.safe_dump(doc, sort_keys=False, width=10**9)
    if deep is not None:
        nested = "[" * deep + "]" * deep
        text = text.replace(f'"{SENTINEL}"', nested).replace(SENTINEL, nested)
    return text


ID_KEYS = {
    "id",
    "from",
    "to",
    "sku",
    "tenant",
    "site",
    "metro",
    "region",
    "element",
    "line",
    "plant",
    "substation",
    "outage",
    "scenario",
}
INT_FIELDS = {
    "gpus",
    "gpus_per_rack",
    "scalable_unit_racks",
    "min_island_gpus",
    "max_sites",
    "workers",
    "seed",
    "max_iterations",
    "racks",
    "schema_version",
    "gpus_placed",
    "racks_placed",
    "monitored_lines",
}
# Mappings whose keys are names, not fields: an unknown key there may be valid.
FREE_DICTS = {
    "region_surcharge_usd_per_mw_year",
    "build_rate_racks_per_period",
    "parameters",
    "dispatch_mw",
    "injections_mw",
    "new_load_mw",
    "installed_racks",
}


def mutate(rng: random.Random, doc: dict, kind: str, *, plan: bool = False) -> tuple[str, str, bool, str]:
    """(text, format, certainly invalid?, description) for one mutation of ``doc``.

    "Certainly invalid" is judged conservatively: only mutations that no schema rule can accept
    (for a plan, whose floats may be NaN for the verifier to judge, fewer of them are)."""
    doc = copy.deepcopy(doc)
    fmt = "json" if plan else rng.choice(["yaml", "json"])
    every = list(nodes(doc))[1:]
    numbers = [(p, v) for p, v in every if is_number(v)]
    strings = [(p, v) for p, v in every if isinstance(v, str) and p[-1] in ID_KEYS]
    dicts = [(p, v) for p, v in every if isinstance(v, dict) and v]
    lists = [(p, v) for p, v in every if isinstance(v, list) and v]
    free = lambda path: any(part in FREE_DICTS for part in path if isinstance(part, str))  # noqa: E731
    if kind == "type_swap":
        path, _ = rng.choice(numbers)
        value = rng.choice(TYPE_SWAPS)
        put(doc, path, value)
        # None is valid for optional fields; everything else is never a number.
        return render(doc, fmt), fmt, value is not None and not (plan and free(path)), f"{path} = {value!r}"
    if kind == "magnitude":
        path, old = rng.choice(numbers)
        value = rng.choice(MAGNITUDES)
        put(doc, path, value)
        int_field = path[-1] in INT_FIELDS and isinstance(old, int)
        if plan:
            certain = int_field and isinstance(value, float) and not free(path)
        else:
            certain = (
                (isinstance(value, float) and not math.isfinite(value))
                or (value in (1e300, 10**30, 2**63) and not in_line(doc, path))
                or (value == -1 and path[-1] not in ("lat", "lon") and not in_line(doc, path))
                or (value == 0.5 and int_field)
            )
        return render(doc, fmt), fmt, certain, f"{path} = {value!r}"
    if kind == "odd_string":
        path, _ = rng.choice(strings)
        value = rng.choice(ODD_STRINGS)
        put(doc, path, value)
        return render(doc, fmt), fmt, value not in (":sun:", None), f"{path} = {str(value)[:20]!r}"
    if kind == "deep":
        path, _ = rng.choice(every)
        depth = rng.choice(DEEP)
        put(doc, path, SENTINEL)
        return render(doc, fmt, deep=depth), fmt, True, f"{path} nested {depth} deep"
    if kind == "remove_key":
        path, d = rng.choice(dicts)
        key = rng.choice(sorted(d, key=str))
        del d[key]
        return render(doc, fmt), fmt, False, f"removed {(*path, key)}"
    if kind == "duplicate_key":
        text = render(doc, fmt)
        if fmt == "json":
            text = text.replace('"name": ', '"name": "dup", "name": ', 1)
        else:
            text = text + f"name: {doc.get('name', 'x')}\n"
        return text, fmt, True, "duplicate key 'name'"
    if kind == "unknown_key":
        path, d = rng.choice(dicts)
        d[rng.choice(["colour", "it_capacity", "Kind", "extra_mw"])] = 1
        return render(doc, fmt), fmt, not free(path), f"unknown key under {path}"
    if kind == "duplicate_element":
        path, lst = rng.choice(lists)
        lst.append(copy.deepcopy(rng.choice(lst)))
        return render(doc, fmt), fmt, False, f"duplicated an element of {path}"
    if kind == "swap_kind":
        path = rng.choice([p for p, v in every if p and p[-1] == "kind"])
        put(doc, path, rng.choice(["site", "substation", "plant", "metro", "feed", "line", "fiber", "warehouse"]))
        return render(doc, fmt), fmt, False, f"{path} kind swapped"
    if kind == "yaml11":
        path, _ = rng.choice(numbers)
        word = rng.choice(["yes", "no", "on", "off", "~", "0x1F", "1_000", ".inf", "0o17"])
        put(doc, path, SENTINEL)
        text = yaml.safe_dump(doc, sort_keys=False, width=10**9).replace(SENTINEL, word)
        return text, "yaml", word in ("yes", "no", "on", "off", ".inf"), f"{path}: {word}"
    if kind == "document":
        if rng.random() < 0.3:
            full = render(doc, fmt)
            return full[: rng.randrange(1, len(full))], fmt, False, "truncated"
        text = rng.choice(["", "[]", "- 1\n- 2\n", "42", "null", "{", "\x00\x01\x02", "name: [unclosed"])
        return text, fmt, True, f"document {text[:10]!r}"
    raise AssertionError(kind)


SCENARIO_KINDS = [
    "type_swap",
    "magnitude",
    "odd_string",
    "deep",
    "remove_key",
    "duplicate_key",
    "unknown_key",
    "duplicate_element",
    "swap_kind",
    "yaml11",
    "document",
]
PLAN_KINDS = [
    "type_swap",
    "magnitude",
    "odd_string",
    "deep",
    "remove_key",
    "duplicate_key",
    "unknown_key",
    "duplicate_element",
    "document",
]


@functools.cache
def scenario_cases() -> list[tuple[int, Path, str, str, bool, str]]:
    rng = random.Random(SEED)
    docs = {base: yaml.safe_load(base.read_text()) for base in BASES}
    cases = []
    for n in range(N_SCENARIOS):
        base = BASES[n % len(BASES)]
        kind = SCENARIO_KINDS[n % len(SCENARIO_KINDS)]
        text, fmt, certain, what = mutate(rng, docs[base], kind)
        cases.append((n, base, text, fmt, certain, f"{base.name}: {kind}: {what}"))
    return cases


def failures_report(failures: list[str]) -> str:
    return f"{len(failures)} failing case(s):\n" + "\n".join(failures[:30])


# --------------------------------------------------------------------------- scenarios


@pytest.mark.parametrize("batch", range(6))
def test_mutated_scenarios_exit_cleanly(batch, tmp_path):
    cases = [c for c in scenario_cases() if c[0] % 6 == batch]
    failures, certain = [], 0
    for n, _base, text, fmt, must_fail, what in cases:
        scenario = tmp_path / f"s{n}.{fmt}"
        scenario.write_text(text, encoding="utf-8", errors="surrogatepass")
        output = tmp_path / f"p{n}.json"
        t = time.perf_counter()
        code, out, err = run_inprocess("--quiet", "solve", str(scenario), "--time-limit", "2", "-o", str(output))
        problems = judge(code, out, err, output, must_fail=must_fail, file=str(scenario))
        if time.perf_counter() - t > 20:
            problems.append(f"took {time.perf_counter() - t:.1f} s")
        if problems:
            failures.append(f"#{n} {what}: {'; '.join(problems)}")
        certain += must_fail
    assert not failures, failures_report(failures)
    assert certain >= len(cases) // 3  # most mutations are certainly invalid, and those are checked for exit 2


def test_fuzz_counts():
    kinds = {c[5].split(": ")[1] for c in scenario_cases()}
    assert len(scenario_cases()) == N_SCENARIOS >= 300 and N_PLANS >= 100
    assert kinds == set(SCENARIO_KINDS)


# --------------------------------------------------------------------------- plans


@pytest.fixture(scope="module")
def solved_plan(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("plan") / "plan.json"
    code, _, err = run_inprocess("--quiet", "solve", str(DATA / "tiny.yaml"), "--time-limit", "5", "-o", str(out))
    assert code == 0, err
    return json.loads(out.read_text())


PLAN_BASES = ["tiny.yaml", "grid_mesh.yaml", "rollout_multi.yaml"]  # plain, grid section, rollout schedule


@pytest.fixture(scope="module")
def solved_plans(tmp_path_factory, solved_plan) -> dict[str, dict]:
    plans = {"tiny.yaml": solved_plan}
    for name in PLAN_BASES[1:]:
        out = tmp_path_factory.mktemp("plan") / "plan.json"
        code, _, err = run_inprocess("--quiet", "solve", str(DATA / name), "--time-limit", "5", "-o", str(out))
        assert code == 0, err
        plans[name] = json.loads(out.read_text())
    return plans


@pytest.mark.parametrize("base", PLAN_BASES)
def test_mutated_plans_exit_cleanly(base, solved_plans, tmp_path):
    rng = random.Random(SEED + 1 + PLAN_BASES.index(base))
    failures = []
    for n in range(N_PLANS // len(PLAN_BASES)):
        kind = PLAN_KINDS[n % len(PLAN_KINDS)]
        text, fmt, must_fail, what = mutate(rng, solved_plans[base], kind, plan=True)
        plan = tmp_path / f"plan{n}.json"
        plan.write_text(text, encoding="utf-8", errors="surrogatepass")
        args = ["verify", str(DATA / base), str(plan)] + (["--json"] if n % 4 == 0 else [])
        code, out, err = run_inprocess("--quiet", *args)
        problems = judge(code, out, err, None, must_fail=must_fail, file=str(plan), verify=True)
        if code not in (0, 1, 2):
            problems.append(f"verify exit {code}")
        if problems:
            failures.append(f"{base} #{n} {kind}: {what}: {'; '.join(problems)}")
    assert not failures, failures_report(failures)


def test_plan_rack_count_must_be_a_number(solved_plan, tmp_path):
    for bad in ("400", True, 400.0):
        plan = copy.deepcopy(solved_plan)
        plan["assignments"][0]["racks"] = bad
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(plan))
        code, _, err = run_inprocess("verify", str(DATA / "tiny.yaml"), str(path))
        assert code == 2 and "assignments[0].racks" in err, (bad, err)


def test_long_site_id_in_plan_is_refused_fast(solved_plan, tmp_path):
    plan = copy.deepcopy(solved_plan)
    plan["assignments"][0]["site"] = "s" * 100_000
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    t = time.perf_counter()
    code, _, err = run_inprocess("verify", str(DATA / "tiny.yaml"), str(path))
    assert code == 2 and "assignments[0].site" in err and time.perf_counter() - t < 2
    assert len(err) < 500  # the 100,000 characters are not echoed back


def test_markup_and_emoji_in_ids_print_literally(tmp_path):
    text = (DATA / "tiny.yaml").read_text().replace("north", '":sun:"')
    path = tmp_path / "sun.yaml"
    path.write_text(text)
    code, out, err = run_inprocess("--quiet", "solve", str(path), "--time-limit", "2")
    assert code == 0, err
    assert ":sun:" in out and "\u2600" not in out


# --------------------------------------------------------------------------- options

BAD_OPTIONS = {
    "--time-limit": ["1e300", "inf", "-inf", "nan", "0", "-1", "abc", "1e-300", "1e7"],
    "--seed": ["4294967296", "-1", "2147483648", "x", "1.5", "99999999999999999999999"],
    "--workers": ["0", "257", "1e3", "two", "-3", "1000000", "true", ""],
    "--solver": ["magic", "", "CPSAT", "cpsat;rm"],
}


def _option_cases(tmp: Path) -> list[tuple[list[str], str]]:
    tiny = str(DATA / "tiny.yaml")
    case14 = str(REPO.parent / "shared" / "grids" / "pglib" / "pglib_opf_case14_ieee.m")
    directory = str(tmp)
    cases = [(["solve", tiny, option, value], option) for option, values in BAD_OPTIONS.items() for value in values]
    for out in (directory, "", directory + "/", str(tmp / "missing" / "x.json"), str(tmp / "file.txt" / "x.json")):
        cases += [
            (["solve", tiny, "-o", out], "-o"),
            (["scenarios", "korea-2025", "-o", out], "-o"),
            (["generate", "--sites", "3", "--gpus", "1024", "-o", out], "-o"),
            (["import-grid", case14, "-o", out], "-o"),
        ]
    cases += [
        (["solve", tiny, "--solver", "magic"], "--solver"),
        (["verify", tiny], "PLAN"),
        (["solve", str(tmp)], "directory"),
        (["solve", tiny, "--time-limit"], "--time-limit"),
        (["verify", tiny, str(tmp)], "directory"),
        (["solve", "/dev/null"], "regular file"),
        (["solve", tiny, "--workers", "257", "--seed", "-5"], "seed"),
        (["generate", "--sites", "0", "--gpus", "1", "-o", str(tmp / "g.json")], "--sites"),
        (["nosuchcommand"], "nosuchcommand"),
        (["solve", tiny, "--unknown-flag"], "--unknown-flag"),
        (["solve", tiny, "--deterministic=maybe"], "deterministic"),
        (["import-grid", str(DATA / "tiny.yaml"), "-o", str(tmp / "x.json"), "--sites", "0"], "--sites"),
        (["generate", "--sites", "3", "--gpus", "-5", "-o", str(tmp / "g.json")], "--gpus"),
        (["verify", "korea-2099", str(DATA / "tiny.yaml")], "korea-2099"),
        (["generate", "--sites", "10000000", "--gpus", "1024", "-o", str(tmp / "g.json")], "--sites"),
    ]
    return cases


def test_bad_options_are_one_line_exit_2(tmp_path):
    (tmp_path / "file.txt").write_text("not a directory")
    cases = _option_cases(tmp_path)
    assert len(cases) >= 60
    failures = []
    for argv, needle in cases:
        before = set(os.listdir(tmp_path))
        code, out, err = run_inprocess("--quiet", *argv)
        problems = judge(code, out, err, None, must_fail=True, file=None)
        if needle.lower() not in err.lower():
            problems.append(f"the line does not name {needle!r}: {err.strip()[:200]!r}")
        if set(os.listdir(tmp_path)) != before:
            problems.append("a file was written")
        if problems:
            failures.append(f"{argv}: {'; '.join(problems)}")
    assert not failures, failures_report(failures)


def test_api_overrides_are_validated(tiny):
    from placer.errors import InputError
    from solvers import solve

    cases: list[tuple[dict[str, Any], str]] = [
        ({"workers": 257}, "--workers"),
        ({"seed": 2**32}, "--seed"),
        ({"time_limit_s": math.inf}, "--time-limit"),
        ({"time_limit_s": 1e300}, "--time-limit"),
        ({"workers": True}, "--workers"),
        ({"time_limit_s": "5"}, "--time-limit"),
    ]
    for kwargs, option in cases:
        with pytest.raises(InputError, match=f"^{option}: "):
            solve(tiny, "greedy", **kwargs)


# --------------------------------------------------------------------------- real processes


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "placer", *args], cwd=REPO, text=True, **kwargs)


@pytest.mark.parametrize("solver, limit", [("cpsat", "60"), ("milp", "8")])
def test_ctrl_c_mid_solve_exits_130_with_the_plan_marked(solver, limit, tmp_path):
    """A real SIGINT a couple of seconds into a multi-second solve (korea-2025-rollout)."""
    out = tmp_path / "plan.json"
    proc = _cli(
        "solve",
        "korea-2025-rollout",
        "--solver",
        solver,
        "--time-limit",
        limit,
        "-o",
        str(out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    for line in proc.stderr:  # wait until the engine has its model and is searching
        if f"{'cpsat' if solver == 'cpsat' else 'milp'}.model" in line:
            break
    time.sleep(2.0)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    stderr = proc.stderr.read()
    proc.stdout.read()
    assert proc.wait(timeout=60) == 130, stderr
    waited = time.perf_counter() - sent
    if solver == "cpsat":
        assert waited < 5, waited  # CP-SAT stops at once; HiGHS finishes its current solve first
    assert "Traceback" not in stderr and "interrupted" in stderr
    summary = json.loads(out.read_text())["summary"]
    assert summary["interrupted"] is True and summary["status"] == "FEASIBLE"
    assert any("interrupted" in note for note in summary["notes"])


def test_closed_stdout_pipe_keeps_exit_0_for_a_valid_plan(solved_plan, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(solved_plan))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before placer writes a byte (`| head -1` at its limit)
    proc = _cli("verify", str(DATA / "tiny.yaml"), str(plan), stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_fifo_scenario_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    proc = _cli("solve", str(fifo), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 2 and "not a regular file" in stderr and str(fifo) in stderr
    code, _, err = run_inprocess("import-grid", str(fifo), "-o", str(tmp_path / "s.json"))
    assert code == 2 and "not a regular file" in err


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_plan_file_mode_follows_the_umask(umask, mode, tmp_path):
    out = tmp_path / "tiny.json"
    proc = _cli(
        "scenarios",
        "korea-2025",
        "-o",
        str(out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.umask(umask),
    )
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert out.stat().st_mode & 0o777 == mode


def test_console_script_path_deep_json_and_workers(tmp_path, cli):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = cli("solve", str(deep), "-o", str(tmp_path / "p.json"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "nested more than" in result.stderr
    result = cli("solve", str(DATA / "tiny.yaml"), "--workers", "257")
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: --workers: Input should be less than or equal to 256 (got 257)"
    )
    assert not (tmp_path / "p.json").exists()


# --------------------------------------------------------------------------- hypothesis: any JSON value in a field

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
# (path in tiny.yaml, the values the schema accepts there)
FIELDS = {
    "it_capacity_mw": (("topology", "nodes", 1, "it_capacity_mw"), lambda v: is_number(v) and 0 < v <= 10_000),
    "pue": (("topology", "nodes", 1, "pue"), lambda v: is_number(v) and 1 <= v <= 3),
    "gpus": (
        ("demand", "tenants", 1, "lines", 0, "gpus"),
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 10**8 and v % 72 == 0,
    ),
    "workers": (
        ("policy", "solver", "workers"),
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 256,
    ),
}


@settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(field=st.sampled_from(sorted(FIELDS)), value=JSON_VALUES)
def test_any_json_value_in_a_numeric_field(field, value, tmp_path_factory):
    """Property: exit 2 with one line naming the field unless the value is a number of the
    field's type within its range (then the solve runs and exits 0, 1, 3 or 4)."""
    path, accepted = FIELDS[field]
    doc = yaml.safe_load((DATA / "tiny.yaml").read_text())
    put(doc, path, value)
    directory = tmp_path_factory.mktemp("hyp")
    scenario = directory / "s.json"
    scenario.write_text(json.dumps(doc))
    output = directory / "p.json"
    code, out, err = run_inprocess(
        "--quiet", "solve", str(scenario), "--solver", "greedy", "--time-limit", "2", "-o", str(output)
    )
    valid = accepted(value)
    problems = judge(code, out, err, output, must_fail=not valid, file=str(scenario))
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    if not valid and where not in err:
        problems.append("the line does not name the field")
    if valid and code == 2:
        problems.append(f"a valid value was refused: {err.strip()}")
    assert not problems, (value, problems)
