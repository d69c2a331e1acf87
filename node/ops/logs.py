"""Structured logs: one JSON object per line on stderr.

``{"ts": "2025-01-01T00:00:00.123Z", "level": "info", "logger": "node.driver.solo",
"msg": "committed block", "height": 12, ...}`` -- fields given with ``extra=`` are
added at the top level. Secrets are never passed to the logger.

What a peer or a client sends can make a node log, so every line is bounded: the message
at :data:`MAX_MSG_CHARS`, each extra field at :data:`MAX_FIELD_CHARS`, a traceback at
:data:`MAX_EXC_CHARS` (its head and its tail, where the exception is); and
:class:`RateLimit` lets through at most ``burst`` lines of one kind (logger, level and
message template) per ``window_s``, then counts what it drops and reports the count
(``"suppressed": n``) on the next line of that kind it lets through. The access log
(logger ``node.access``, one line per HTTP request: ``ledger.asgi``) is not rate-limited:
its lines are bounded by the HTTP server's own limits on connections and requests, and an
access log that drops lines under load would hide the load.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import time
from typing import Any

__all__ = ["ACCESS_LOGGER", "MAX_EXC_CHARS", "MAX_FIELD_CHARS", "MAX_MSG_CHARS", "JsonFormatter", "RateLimit",
           "setup_logging"]

#: The logger of the access log (``ledger.asgi.AccessLogMiddleware``, mounted by node/api/rpc.py).
ACCESS_LOGGER = "node.access"
MAX_MSG_CHARS = 2000
MAX_FIELD_CHARS = 500
MAX_EXC_CHARS = 4000

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        out: dict[str, Any] = {
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _clip(record.getMessage(), MAX_MSG_CHARS),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "color_message" and not key.startswith("_"):
                if not isinstance(value, int | bool | None):
                    value = _clip(value if isinstance(value, str) else str(value),
                                  MAX_FIELD_CHARS)
                out[key] = value
        if record.exc_info:
            exc = self.formatException(record.exc_info)
            if len(exc) > MAX_EXC_CHARS:
                half = MAX_EXC_CHARS // 2
                exc = f"{exc[:half]}\n... {len(exc) - MAX_EXC_CHARS} characters left out ...\n{exc[-half:]}"
            out["exc"] = exc
        return json.dumps(out, default=str, ensure_ascii=False)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more)"


class RateLimit(logging.Filter):
    """At most ``burst`` records of one kind (logger, level, message template) per
    ``window_s`` seconds; the rest are dropped and counted, and the count is attached as
    ``suppressed`` to the next record of that kind that passes. At most ``max_kinds``
    kinds are tracked (the oldest window is forgotten first)."""

    def __init__(self, burst: int = 20, window_s: float = 10.0, max_kinds: int = 1024,
                 clock: Any = None, exempt: tuple[str, ...] = ()) -> None:
        super().__init__()
        assert burst >= 1 and window_s > 0 and max_kinds >= 1
        self.burst, self.window_s, self.max_kinds = burst, window_s, max_kinds
        self.exempt = exempt
        self.clock = clock or time.monotonic
        self._kinds: dict[tuple[str, int, str], list[float | int]] = {}  # start, passed, dropped

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in self.exempt:
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        entry = self._kinds.get(kind)
        if entry is None or now - entry[0] >= self.window_s:
            dropped = int(entry[2]) if entry is not None else 0
            if entry is None and len(self._kinds) >= self.max_kinds:
                oldest = min(self._kinds, key=lambda k: self._kinds[k][0])
                del self._kinds[oldest]
            self._kinds[kind] = [now, 1, 0]
            if dropped:
                record.suppressed = dropped
            return True
        if entry[1] < self.burst:
            entry[1] = int(entry[1]) + 1
            return True
        entry[2] = int(entry[2]) + 1
        return False


def setup_logging(level: str = "info") -> None:
    """Send every logger's records to stderr as JSON lines (replaces other handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RateLimit(exempt=(ACCESS_LOGGER,)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
