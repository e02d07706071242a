"""Log configuration: plain text for people, one JSON object per line for machines.

Records come from the `prism.*` loggers: one access line per request (`prism.access`: method,
route, status, duration_ms, request_id, client), slow queries (`prism.db`: duration_ms and the
statement, never its parameters), sign-in and abuse events (`prism.auth`). Code never logs a
token; as a second line of defence both formats blank anything shaped like one (a bearer
credential, a console token, a `token=` parameter) before it is written.
"""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_SECRET_PATTERNS = (
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+"), r"\1 [redacted]"),
    (re.compile(r"\bprism_[A-Za-z0-9_\-]{16,}"), "prism_[redacted]"),
    (re.compile(r"(?i)\b((?:access_)?token=)[^\s&\"',;]+"), r"\1[redacted]"),
)


def redact(text: str) -> str:
    """`text` with anything shaped like a token blanked out."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    """Send the `prism.*` loggers to stderr, as text or JSON lines (PRISM_LOG_FORMAT)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger("prism")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
