"""Structured logs: JSON lines in production, readable lines in a terminal.

Request id, member id and invoice id are bound in context variables so that every line
written while handling a request or sending an invoice carries them.
"""

from __future__ import annotations

import logging
import sys

import structlog

from gateway.config import REDACTED, is_secret_name, redact

#: Bound on every request's lines: an API key's public id, not the key.
PUBLIC_FIELDS = frozenset({"event", "key_id"})


def _drop_secrets(logger, method_name, event_dict: dict) -> dict:
    """Redact any value whose name says it is a secret, at any depth, whatever the caller
    passed by mistake."""
    return {
        key: value if key in PUBLIC_FIELDS else REDACTED if is_secret_name(key) else redact(value)
        for key, value in event_dict.items()
    }


def configure_logging(log_format: str = "console", level: str = "INFO") -> None:
    """Configure structlog and the standard library logging once per process."""
    renderer = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    # fpdf2 subsets fonts through fontTools, which narrates every glyph at INFO.
    logging.getLogger("fontTools").setLevel(logging.WARNING)


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
