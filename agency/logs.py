"""Logging of every agency process: one line per meaningful event, routine traffic at DEBUG.

``configure`` is called once by ``agency up`` and ``agency worker``. ``text`` is for people
(the console of ``make up``), ``json`` for machines (one object per line: time, level,
logger, message and the record's structured ``extra`` fields). The HTTP libraries log every
request at INFO (``httpx: HTTP Request: POST .../heartbeat``); that is routine traffic, kept
for ``--log-level debug``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

from agency.security.redaction import install_log_redaction

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: loggers whose INFO lines are per-request traffic, not events
ROUTINE = ("httpx", "httpcore", "aiohttp.access", "uvicorn.access", "bokeh.server.views.ws")
# attributes every LogRecord has: anything else was passed as ``extra`` and goes into JSON
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with its ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str, fmt: LogFormat = "text") -> None:
    """Set the root handler on stderr, quiet routine traffic unless ``level`` is DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in ROUTINE:
        logging.getLogger(name).setLevel(quiet)
    install_log_redaction()


def uvicorn_log_config(fmt: LogFormat) -> dict[str, object]:
    """uvicorn's loggers through the root handler (so ``json`` covers them too)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {"level": "INFO", "propagate": True, "handlers": []},
            "uvicorn.error": {"level": "INFO", "propagate": True, "handlers": []},
            "uvicorn.access": {"level": "WARNING", "propagate": True, "handlers": []},
        },
    }
