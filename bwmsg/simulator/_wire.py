"""What the simulator's endpoints share: JSON in and out, error bodies, Basic auth headers,
timestamps."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "BASIC_CHALLENGE",
    "BEARER_CHALLENGE",
    "JSON",
    "QUEUE_FULL",
    "RATE_LIMITED",
    "SERVER_ERRORS",
    "UNAUTHORIZED",
    "UNSUPPORTED",
    "basic_pair",
    "dumps",
    "error_body",
    "loads",
    "timestamp",
]

try:  # orjson is optional; the hot path is twice as fast with it.
    import orjson

    loads: Callable[[bytes], Any] = orjson.loads
    dumps: Callable[[Any], bytes] = orjson.dumps
except ImportError:  # pragma: no cover - depends on the environment
    loads = json.loads
    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def dumps(obj: Any) -> bytes:
        return _encoder.encode(obj).encode()


JSON = "application/json"
QUEUE_FULL = "max-message-queue-size-exceeded"


def error_body(type_: str, description: str) -> bytes:
    """A Bandwidth error body: ``{"type": ..., "description": ...}``."""
    return dumps({"type": type_, "description": description})


UNAUTHORIZED = error_body("unauthorized", "Authentication Failed")
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="bwmsg"'}
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="bwmsg", error="invalid_token"'}
UNSUPPORTED = error_body(
    "unsupported-media-type", "Content-Type must be application/json and the body JSON"
)
RATE_LIMITED = error_body(
    QUEUE_FULL, "The message queue for this account is full. Slow down and try again."
)
SERVER_ERRORS = {
    500: error_body("internal-server-error", "An internal error occurred (simulated)."),
    502: error_body("bad-gateway", "Bad gateway (simulated)."),
    503: error_body("service-unavailable", "The service is unavailable (simulated)."),
}


def basic_pair(header: str | None) -> tuple[str | None, str | None]:
    """(user, password) from an HTTP Basic Authorization header; (None, None) if not one."""
    if header is None:
        return None, None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, None)


def timestamp() -> str:
    """Now, as the service writes times (UTC, milliseconds, ``Z``)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
