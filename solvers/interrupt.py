"""Ctrl-C during an engine's solve: stop the engine, keep its incumbent, say so.

CP-SAT and HiGHS run in C++ with the GIL released, so Python's SIGINT handler (which
raises KeyboardInterrupt) would only run once the solve returns; CP-SAT instead catches
SIGINT itself by default and returns its incumbent as if the time limit had struck,
with no trace of the interruption. :func:`run_interruptibly` runs the solve in a worker
thread, so the main thread stays in Python and receives the KeyboardInterrupt at once;
it then asks the engine to stop (``CpSolver.stop_search``, MathOpt's ``SolveInterrupter``)
and waits for the engine's result, which the caller marks as interrupted. A second
Ctrl-C stops waiting and propagates the KeyboardInterrupt (no plan).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import structlog

log = structlog.get_logger("placer.interrupt")

T = TypeVar("T")


def run_interruptibly(
    solve: Callable[[], T], stop: Callable[[], None], *, engine: str, stop_note: str = ""
) -> tuple[T, bool]:
    """``(solve(), interrupted)``: ``solve`` runs in a worker thread; on Ctrl-C ``stop()`` is
    called (it must be safe from another thread) and the result is still awaited.

    ``stop_note`` is logged with the interruption (e.g. that the engine finishes its current
    solve first). Exceptions from ``solve`` are re-raised here. O(1) besides ``solve``."""
    box: dict[str, object] = {}
    # An Event, not Thread.join: a KeyboardInterrupt inside join() can leave the thread marked
    # as stopped while it still runs (CPython before 3.13).
    done = threading.Event()

    def target() -> None:
        try:
            box["result"] = solve()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name=f"{engine}-solve", daemon=True)
    worker.start()
    interrupted = False
    while True:
        try:
            if done.wait(0.25):
                break
        except KeyboardInterrupt:
            if interrupted:
                raise  # the second Ctrl-C: stop waiting, no plan
            interrupted = True
            log.warning(
                "solve.interrupted",
                engine=engine,
                detail=stop_note or "stopping the search; Ctrl-C again to abort without a plan",
            )
            stop()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"], interrupted  # type: ignore[return-value]
