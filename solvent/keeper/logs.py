"""Structured keeper logs: UTC timestamps, the block, and JSON lines with `--json`."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER = "solvent.keeper"


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        block = getattr(record, "block", None)
        where = f" block={block}" if block is not None else ""
        return f"{stamp} {record.levelname.lower():7s}{where} {record.getMessage()}"


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        for key in ("block", "event", "account", "tx"):
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        return json.dumps(out, default=str)


def setup(
    json_lines: bool = False, level: int = logging.INFO, stream: Any = None
) -> logging.Logger:
    """The keeper's logger, writing to `stream` (stderr by default)."""
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_Json() if json_lines else _Text())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
