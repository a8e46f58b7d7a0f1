"""Read Alibaba's PAI GPU trace (cluster-trace-gpu-v2020) into a scheduler workload.

The trace (github.com/alibaba/clusterdata, ``cluster-trace-gpu-v2020``; Weng et al., NSDI 2022)
is a set of CSV files **without a header row**; the official schema (its README and the
``*.header`` files) gives the columns. This loader reads two of them:

* ``pai_job_table.csv``: ``job_name, inst_id, user, status, start_time, end_time``; ``start_time``
  is the job's *submission* time, ``status`` one of Running, Terminated, Failed, Waiting (only
  Terminated jobs succeeded);
* ``pai_task_table.csv``: ``job_name, task_name, inst_num, status, start_time, end_time, plan_cpu,
  plan_mem, plan_gpu, gpu_type``; ``plan_gpu`` is per instance in percent (50.0 = half a GPU),
  ``start_time`` the task's launch.

Times are seconds, shifted by a constant; in UTC+8 they keep the original time of day and
weekday (the README's note), so the loader sets ``t = 0`` at the local (UTC+8) midnight before
the first kept submission: the diurnal pattern survives.

Mapping (one Workload job per kept trace job):

* GPUs: ``ceil(sum over its tasks of inst_num x plan_gpu / 100)`` (fractional GPU sharing rounds
  up to whole GPUs: the fleet allocates whole GPUs);
* duration: the last task end minus the first task launch (its run time); arrival: its
  submission; no user estimate is in the trace, so the estimate is the duration (exact);
* tenant: the user hashed (SHA-256) onto the fleet's tenants, so one user is always one tenant;
* gang: ``domain`` when it fits an 8-GPU node, else ``site`` (PAI gangs instances of a job);
  no SKU (the trace's V100/P100/T4/MISC types do not exist in the fleet); kind ``training`` when a
  task is a ``ps`` or ``worker``, else ``batch``.

Rows it cannot use are skipped and counted by reason (not Terminated, no GPU, no task, no run
time). A first row that is exactly the official column names (the release's ``.header`` file put on
top) is skipped. A malformed row (wrong column count, a number that is not one, a repeated job) is an
:class:`placer.errors.InputError` naming the file, the row (1-based) and the column.

Complexity: O(rows) time, O(jobs) memory (the task table is streamed and folded per job).
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

from placer.errors import InputError
from placer.fleet import Fleet
from placer.workload import Job, TenantPolicy, Workload

JOB_COLUMNS = ("job_name", "inst_id", "user", "status", "start_time", "end_time")
TASK_COLUMNS = (
    "job_name",
    "task_name",
    "inst_num",
    "status",
    "start_time",
    "end_time",
    "plan_cpu",
    "plan_mem",
    "plan_gpu",
    "gpu_type",
)
JOB_FILE = "pai_job_table.csv"
TASK_FILE = "pai_task_table.csv"
UTC8_S = 8 * 3600.0
DAY_S = 86400.0
NODE_GPUS = 8
STATUSES = ("Running", "Terminated", "Failed", "Waiting")


@dataclass
class TraceLoad:
    """The workload and what the loader did: rows read and skipped by reason."""

    workload: Workload
    job_rows: int
    task_rows: int
    kept: int
    skipped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none"
        return f"{self.kept} jobs kept of {self.job_rows} job rows ({self.task_rows} task rows); skipped: {skipped}"


@dataclass
class _Acc:
    gpu_pct: float = 0.0
    first_start: float = math.inf
    last_end: float = -math.inf
    training: bool = False
    tasks: int = 0


def _rows(path: Path, columns: tuple[str, ...]):
    """Yield (row number, row) of a header-less CSV, checking the column count."""
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    with fh:
        try:
            for n, row in enumerate(csv.reader(fh), start=1):
                if not row:
                    continue
                if n == 1 and [c.strip() for c in row] == list(columns):
                    continue  # the release's separate .header file pasted on top: unambiguous, skipped
                if len(row) != len(columns):
                    raise InputError(
                        f"{len(row)} columns, expected {len(columns)} ({', '.join(columns)}); "
                        "the release's CSVs have no header row",
                        file=str(path),
                        where=f"row {n}",
                    )
                yield n, row
        except UnicodeDecodeError:
            raise InputError("not UTF-8 text", file=str(path)) from None
        except csv.Error as exc:
            raise InputError(f"not CSV: {exc}", file=str(path)) from None


def _number(path: Path, n: int, columns: tuple[str, ...], row: list[str], col: str, *, optional: bool) -> float | None:
    text = row[columns.index(col)].strip()
    if text == "" or text.lower() in ("nan", "none", "null"):
        if optional:
            return None
        raise InputError(f"column {col} is empty", file=str(path), where=f"row {n}")
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"column {col} ('{text[:40]}') is not a number", file=str(path), where=f"row {n}") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"column {col} ({text[:40]}) must be a finite number >= 0", file=str(path), where=f"row {n}")
    return value


def tenant_of(user: str, tenants: list[str]) -> str:
    """The fleet tenant a trace user maps to: SHA-256 of the user modulo the tenant count."""
    h = int.from_bytes(hashlib.sha256(user.encode()).digest()[:8], "big")
    return tenants[h % len(tenants)]


def load_alibaba(
    directory: str | Path,
    fleet: Fleet,
    *,
    max_jobs: int | None = None,
    days: float | None = None,
) -> TraceLoad:
    """Read ``pai_job_table.csv`` and ``pai_task_table.csv`` from ``directory`` into a Workload.

    Inputs: the trace directory, the fleet (its tenants); ``days``: keep jobs submitted in the
    first ``days`` days from t = 0; ``max_jobs``: keep the first that many by submission.
    Output: a :class:`TraceLoad`. Raises InputError on a missing file or a malformed row.
    Complexity: O(job rows + task rows)."""
    root = Path(directory)
    if not root.is_dir():
        raise InputError("not a directory (expected the trace's CSV files in it)", file=str(root))
    job_path, task_path = root / JOB_FILE, root / TASK_FILE
    for p in (job_path, task_path):
        if not p.is_file():
            raise InputError(f"missing {p.name} (cluster-trace-gpu-v2020's job and task tables)", file=str(root))
    if not fleet.tenants:
        raise InputError("the fleet has no tenants", file="plan")
    skipped: dict[str, int] = {}

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    jobs: dict[str, tuple[int, str, str, float]] = {}  # name -> (row, user, status, submit)
    job_rows = 0
    for n, row in _rows(job_path, JOB_COLUMNS):
        job_rows += 1
        name, status, user = row[0].strip(), row[3].strip(), row[2].strip()
        if not name:
            raise InputError("column job_name is empty", file=str(job_path), where=f"row {n}")
        if name in jobs:
            raise InputError(
                f"column job_name: '{name}' appears twice (first in row {jobs[name][0]})",
                file=str(job_path),
                where=f"row {n}",
            )
        if status not in STATUSES:
            raise InputError(
                f"column status ('{status[:40]}') is not one of {', '.join(STATUSES)}",
                file=str(job_path),
                where=f"row {n}",
            )
        submit = _number(job_path, n, JOB_COLUMNS, row, "start_time", optional=True)
        _number(job_path, n, JOB_COLUMNS, row, "end_time", optional=True)
        jobs[name] = (n, user, status, -1.0 if submit is None else submit)

    acc: dict[str, _Acc] = {}
    task_rows = 0
    for n, row in _rows(task_path, TASK_COLUMNS):
        task_rows += 1
        name = row[0].strip()
        inst = _number(task_path, n, TASK_COLUMNS, row, "inst_num", optional=True) or 0.0
        gpu = _number(task_path, n, TASK_COLUMNS, row, "plan_gpu", optional=True) or 0.0
        start = _number(task_path, n, TASK_COLUMNS, row, "start_time", optional=True)
        end = _number(task_path, n, TASK_COLUMNS, row, "end_time", optional=True)
        for col in ("plan_cpu", "plan_mem"):
            _number(task_path, n, TASK_COLUMNS, row, col, optional=True)
        if name not in jobs:
            skip("task rows of no job in the job table")
            continue
        a = acc.setdefault(name, _Acc())
        a.tasks += 1
        a.gpu_pct += inst * gpu
        if start is not None:
            a.first_start = min(a.first_start, start)
        if end is not None:
            a.last_end = max(a.last_end, end)
        a.training = a.training or row[1].strip().lower() in ("ps", "worker")

    kept: list[tuple[float, str, str, int, float, bool]] = []
    for name, (_, user, status, submit) in jobs.items():
        if status != "Terminated":
            skip(f"jobs {status.lower()} (not Terminated)")
            continue
        a = acc.get(name)
        if a is None:
            skip("jobs without tasks")
            continue
        if a.gpu_pct <= 0:
            skip("jobs without GPUs")
            continue
        if submit < 0 or not math.isfinite(a.first_start) or a.last_end <= a.first_start:
            skip("jobs without a run time (missing or zero start/end)")
            continue
        gpus = max(1, math.ceil(a.gpu_pct / 100.0 - 1e-9))
        kept.append((submit, name, user, gpus, a.last_end - a.first_start, a.training))
    kept.sort()
    origin = math.floor((kept[0][0] + UTC8_S) / DAY_S) * DAY_S - UTC8_S if kept else 0.0
    if days is not None:
        before = len(kept)
        kept = [k for k in kept if k[0] - origin < days * DAY_S]
        if before - len(kept):
            skipped["jobs after the --days window"] = before - len(kept)
    if max_jobs is not None and len(kept) > max_jobs:
        skipped["jobs past --max-jobs"] = len(kept) - max_jobs
        kept = kept[:max_jobs]
    out: list[Job] = []
    for submit, name, user, gpus, dur, training in kept:
        out.append(
            Job(
                id=name,
                tenant=tenant_of(user, fleet.tenants),
                gpus=gpus,
                arrival_s=round(submit - origin, 1),
                duration_s=round(max(dur, 1.0), 1),
                gang="domain" if gpus <= NODE_GPUS else "site",
                kind="training" if training else "batch",
            )
        )
    owned = fleet.owned_gpus()
    wl = Workload(
        name=f"alibaba-pai:{root.name}",
        source=f"Alibaba cluster-trace-gpu-v2020 ({job_path.name}, {task_path.name}) from {root}",
        jobs=out,
        tenants=[TenantPolicy(tenant=t, quota_gpus=owned[t]) for t in fleet.tenants if owned.get(t, 0) > 0],
    )
    return TraceLoad(wl, job_rows, task_rows, len(out), skipped)


__all__ = ["JOB_COLUMNS", "TASK_COLUMNS", "TraceLoad", "load_alibaba", "tenant_of"]
