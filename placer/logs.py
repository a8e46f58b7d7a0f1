"""structlog set-up: readable console lines when interactive, JSON lines with ``--log-json``.

Logs go to stderr so that stdout carries only the report (and ``--json`` output).
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure(*, json_logs: bool = False, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else logging.INFO
    processors: list = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso" if json_logs else "%H:%M:%S", utc=json_logs),
    ]
    if json_logs:
        processors += [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def _stderr_logger(*_args) -> structlog.PrintLogger:
    # Resolved at each use, so a redirected sys.stderr (tests, notebooks) is honoured.
    return structlog.PrintLogger(file=sys.stderr)


def default_to_stderr() -> None:
    """For library use without the CLI: structlog's unconfigured default prints to stdout, which
    would mix log lines into a program's own output. Send them to stderr instead, unless the
    application has configured structlog itself (then its choice stands). O(1)."""
    if not structlog.is_configured():
        structlog.configure(logger_factory=_stderr_logger)
