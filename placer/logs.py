"""structlog set-up: readable console lines when interactive, JSON lines with ``--log-json``.

Logs go to stderr so that stdout carries only the report (and ``--json`` output).
"""

from __future__ import annotations

import logging
import sys

import structlog

_live = None  # the live progress display, when one is installed (placer.progress.LiveProgress)


def configure(*, json_logs: bool = False, quiet: bool = False, live: bool | None = None) -> None:
    """Console lines (or JSON lines with ``json_logs``) on stderr; warnings only with ``quiet``.

    ``live``: show solver progress as a live display (placer.progress) instead of its log lines;
    by default when stderr is a terminal and neither ``json_logs`` nor ``quiet`` is set."""
    global _live
    stop_live()
    level = logging.WARNING if quiet else logging.INFO
    processors: list = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso" if json_logs else "%H:%M:%S", utc=json_logs),
    ]
    if live is None:
        live = sys.stderr.isatty() and not json_logs and not quiet
    if json_logs:
        processors += [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    elif live:
        from rich.console import Console

        from placer.progress import LiveProgress

        _live = LiveProgress(
            Console(stderr=True, highlight=False, emoji=False, markup=False),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        )
        processors.append(_live)
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def stop_live() -> None:
    """End the live progress display, if one is showing (before a command prints its report). O(1)."""
    if _live is not None:
        _live.stop()


def _stderr_logger(*_args) -> structlog.PrintLogger:
    # Resolved at each use, so a redirected sys.stderr (tests, notebooks) is honoured.
    return structlog.PrintLogger(file=sys.stderr)


def default_to_stderr() -> None:
    """For library use without the CLI: structlog's unconfigured default prints to stdout, which
    would mix log lines into a program's own output. Send them to stderr instead, unless the
    application has configured structlog itself (then its choice stands). O(1)."""
    if not structlog.is_configured():
        structlog.configure(logger_factory=_stderr_logger)
