"""Errors a user can cause, each rendered as one line naming the file and the path inside it."""

from __future__ import annotations


class PlacerError(Exception):
    """Base class for errors shown to the user without a traceback."""

    exit_code = 2


class InputError(PlacerError):
    """Bad input: a missing or unreadable file, an invalid value, an unknown name.

    ``file`` is the file (or built-in scenario name), ``where`` the path inside it
    (``topology.nodes[3].it_capacity_mw``), ``message`` what is wrong.
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, where: str | None = None):
        self.file, self.where, self.message = file, where, message
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.file, self.where) if p]
        return ": ".join([*parts, self.message])


class InfeasibleError(PlacerError):
    """The problem has no solution; ``reasons`` say why in the planner's words."""

    exit_code = 3

    def __init__(self, message: str, reasons: list[str] | None = None):
        self.reasons = reasons or []
        super().__init__(message)


class NoSolutionError(PlacerError):
    """No plan was found, without a proof that none exists: the time limit stopped the
    search first, or a heuristic (the greedy baseline) could not place the demand.

    Exit code 4, not 3: exit 3 is kept for problems proven infeasible."""

    exit_code = 4


class SolveInterrupted(PlacerError):
    """The user interrupted the solve (Ctrl-C) before any plan was found. Exit code 130, as
    for any program stopped by SIGINT. (When a plan was found, it is returned instead, with
    ``summary.interrupted`` set.)"""

    exit_code = 130
