"""A live progress display of a solve on a terminal, fed by the engines' own structlog events.

The engines log what they do (``cpsat.incumbent``, ``milp.solve``, ``milp.screen``, ``milp.lns``, ...);
:class:`LiveProgress` is a structlog processor that reads those events into a :class:`ProgressState`
and shows it as a few rich lines, refreshed four times a second: elapsed time, the incumbent, the
bound, the gap, and the phase (contingency-loop iteration, neighbourhood, CP-SAT search). The engines
need no change. Other events (warnings, notes) are still printed, as the console renderer would,
above the display. :func:`placer.logs.configure` installs it only when stderr is a terminal and
neither ``--log-json`` nor ``--quiet`` is given; otherwise the log lines are as before.

Complexity: O(1) per event; rendering is O(1).
"""

from __future__ import annotations

import atexit
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class ProgressState:
    """What the display shows, updated from events by :meth:`update` (thread-safe)."""

    started: float = field(default_factory=time.perf_counter)
    scenario: str = ""
    engine: str = ""
    phase: str = "starting"
    incumbent_usd: float | None = None
    bound_usd: float | None = None
    iteration: int | None = None
    rows_added: int = 0
    neighbourhoods: int = 0
    solutions: int = 0
    events: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def gap(self) -> float | None:
        if self.incumbent_usd is None or self.bound_usd is None or self.incumbent_usd == 0:
            return None
        return max(0.0, (self.incumbent_usd - self.bound_usd) / abs(self.incumbent_usd))

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def _incumbent(self, value: Any) -> None:
        # An engine may report a worse objective (a fresh solve of a tighter model); the display shows
        # the latest plan's figure, as the log line would.
        v = _number(value)
        if v is not None:
            self.incumbent_usd = v

    def _bound(self, value: Any) -> None:
        v = _number(value)
        if v is not None and abs(v) < 1e29:  # HiGHS reports -inf / 1e30 before it has a bound
            self.bound_usd = v

    def update(self, event: str, data: dict[str, Any]) -> bool:
        """Read one event; True when it is a progress event (shown by the display, not as a line)."""
        with self._lock:
            known = self._update(event, data)
            self.events += known
            return known

    def _update(self, event: str, d: dict[str, Any]) -> bool:
        if event == "solve.start":
            self.started = time.perf_counter()
            self.scenario = str(d.get("scenario", ""))
            self.engine = str(d.get("solver", ""))
            self.phase = "building the model"
            self.incumbent_usd = self.bound_usd = None
            self.iteration, self.rows_added, self.neighbourhoods, self.solutions = None, 0, 0, 0
            return False  # also printed: it names the scenario and digest
        if event == "cpsat.model":
            self.engine = "cpsat"
            self.phase = f"CP-SAT search ({d.get('variables', '?')} variables, {d.get('constraints', '?')} constraints)"
            return True
        if event == "cpsat.incumbent":
            self.engine = self.engine or "cpsat"
            self.solutions = int(d.get("solution", self.solutions + 1) or 0)
            self._incumbent(d.get("objective_usd"))
            self._bound(d.get("bound_usd"))
            self.phase = f"CP-SAT search: solution {self.solutions}"
            return True
        if event == "cpsat.done":
            self._incumbent(d.get("objective_usd"))
            self._bound(d.get("bound_usd"))
            self.phase = f"CP-SAT {d.get('status', 'done')} after {d.get('seconds', '?')} s"
            return True
        if event == "milp.model":
            self.engine = str(d.get("engine", "milp"))
            self.phase = f"MILP model built ({d.get('variables', '?')} variables, {d.get('constraints', '?')} rows)"
            return True
        if event == "milp.solve":
            it = d.get("iteration")
            self._incumbent(d.get("objective_usd"))
            self._bound(d.get("bound_usd"))
            term = d.get("termination", "")
            if it == "final":
                self.phase = f"last full solve (hinted with the best plan): {term}"
            else:
                self.iteration = it if isinstance(it, int) else self.iteration
                self.phase = f"contingency loop, iteration {it}: solved ({term})"
            return True
        if event == "milp.screen":
            added = int(d.get("base_added", 0) or 0) + int(d.get("contingency_added", 0) or 0)
            self.rows_added += added
            it = d.get("iteration")
            self.phase = (
                f"contingency loop, iteration {it}: N-1 secure, no rows to add"
                if added == 0
                else f"contingency loop, iteration {it}: {added} line rows added "
                f"(worst overload {d.get('worst_violation_mw', 0):g} MW), re-solving"
            )
            return True
        if event in ("milp.lns", "milp.decompose"):
            self.neighbourhoods = int(d.get("neighbourhood", self.neighbourhoods + 1) or 0)
            self._incumbent(d.get("objective_usd"))
            kind = "neighbourhood" if event == "milp.lns" else "decomposition neighbourhood"
            self.phase = f"{kind} {self.neighbourhoods} ({d.get('sites', '?')} sites freed): improved"
            return True
        if event == "milp.decompose.done":
            self.phase = f"decomposition done: {d.get('improved', 0)} of {d.get('neighbourhoods', 0)} improved"
            return True
        if event == "milp.relaxation":
            self.phase = f"LP relaxation, round {d.get('round', '?')}"
            return True
        if event == "milp.upfront":
            self.phase = f"up-front N-1 rows: {d.get('rows_built', 0):,} of {d.get('rows_total', 0):,} built"
            return True
        if event == "infeasibility.core":
            self.phase = f"explaining the infeasibility ({d.get('phase', '')}, {d.get('constraints', '?')} constraints)"
            return True
        return False

    def lines(self) -> list[str]:
        """The display's text: two lines."""
        with self._lock:
            inc = f"{self.incumbent_usd:,.0f}" if self.incumbent_usd is not None else "-"
            bound = f"{self.bound_usd:,.0f}" if self.bound_usd is not None else "-"
            gap = f"{100 * self.gap:.3f} %" if self.gap is not None else "-"
            head = f"{self.engine or 'solve'} {self.scenario}".strip()
            extra = []
            if self.rows_added:
                extra.append(f"{self.rows_added:,} line rows")
            if self.neighbourhoods:
                extra.append(f"{self.neighbourhoods} neighbourhoods improved")
            return [
                f"{head}  elapsed {self.elapsed_s():6.1f} s  incumbent {inc}  bound {bound}  gap {gap}"
                + (f"  ({', '.join(extra)})" if extra else ""),
                f"  {self.phase}",
            ]


class _View:
    """What rich's Live renders: re-read at every refresh, so the elapsed time moves between events."""

    def __init__(self, state: ProgressState):
        self.state = state

    def __rich__(self) -> Group:
        first, second = self.state.lines()
        return Group(Text(first, style="bold"), Text(second, style="cyan"))


class LiveProgress:
    """A structlog processor (the last one): progress events update the live display; any other
    event is rendered by ``fallback`` (the console renderer) and printed above it."""

    def __init__(self, console: Console, fallback):
        self.console = console
        self.fallback = fallback
        self.state = ProgressState()
        self._live: Live | None = None
        self._lock = threading.Lock()
        atexit.register(self.stop)

    def __call__(self, logger, method_name: str, event_dict: dict) -> str:
        event = str(event_dict.get("event", ""))
        data = {k: v for k, v in event_dict.items() if k not in ("event", "level", "timestamp")}
        if self.state.update(event, data):
            self._start()
            raise structlog.DropEvent
        line = self.fallback(logger, method_name, event_dict)
        if self._live is not None:
            self.console.print(Text.from_ansi(line))  # above the live display, which stays at the bottom
            raise structlog.DropEvent
        return line

    def _start(self) -> None:
        with self._lock:
            if self._live is None:
                self._live = Live(_View(self.state), console=self.console, refresh_per_second=4, transient=False)
                self._live.start()

    def stop(self) -> None:
        """End the display (its last state stays on screen). Idempotent."""
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.refresh()
            live.stop()
