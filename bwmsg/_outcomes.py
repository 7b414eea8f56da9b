"""What one attempt's answer or failure means: the Message, an API error, or a transport
failure that certainly did not send (``TransportError``) or may have (``AmbiguousSendError``)."""

from __future__ import annotations

from . import _convert
from ._errors import (
    AmbiguousSendError,
    ApiError,
    BwmsgError,
    RateLimitedError,
    ServerError,
    TransportError,
    api_error_from_response,
)
from ._models import Message, MessageRequest
from ._retry import parse_retry_after
from ._transport import Answer, AnswerTimeout, ConnectError, ExchangeError

__all__ = [
    "answer_outcome",
    "attempt_result",
    "failure_outcome",
    "message_from_request",
    "short",
]


def answer_outcome(answer: Answer) -> Message | BwmsgError | None:
    """What an answer means: the Message, the error, or None for an unreadable 2xx."""
    status = answer.status
    payload = answer.body
    if 200 <= status < 300:
        if payload is None:  # the status was read, the body cut off: still accepted
            return None
        try:
            data = _convert.loads(payload)
        except (ValueError, RecursionError):  # accepted, answer unreadable
            return None
        return _convert.message_from_json(data)
    return api_error_from_response(
        status,
        payload or b"",
        reason=answer.reason,
        retry_after=parse_retry_after(answer.headers.get("retry-after")),
    )


def failure_outcome(
    exc: ConnectError | ExchangeError | AnswerTimeout, base_url: str, timeout: float
) -> BwmsgError:
    """What a failed attempt means: sent for sure not, or perhaps."""
    if isinstance(exc, ConnectError):
        # Nothing was written; a refused certificate stays refused.
        return _caused(
            TransportError(f"could not send to {base_url}: {exc}", retryable=exc.retryable),
            exc.__cause__ or exc,  # the OSError, SSLError or aiohttp's error itself
        )
    if isinstance(exc, AnswerTimeout):
        return _caused(
            AmbiguousSendError(f"no answer within {timeout:g}s: the message may have been sent"),
            exc.__cause__ or exc,
        )
    # Disconnected, reset, truncated or malformed answer ...: the request may have been read.
    return _caused(AmbiguousSendError(f"{exc}: the message may have been sent"), exc)


def attempt_result(outcome: Message | BwmsgError | None) -> str:
    """What one attempt came to, in the words of ``bwmsg_attempts_total``'s ``result`` label:
    ``accepted`` (a 2xx, readable or not), ``rate_limited`` (429), ``server_error`` (5xx),
    ``client_error`` (any other error status), ``transport`` (nothing was written) or
    ``ambiguous`` (written, no whole answer)."""
    if not isinstance(outcome, BwmsgError):
        return "accepted"
    if isinstance(outcome, RateLimitedError):
        return "rate_limited"
    if isinstance(outcome, ServerError):
        return "server_error"
    if isinstance(outcome, ApiError):
        return "client_error"
    if isinstance(outcome, TransportError):
        return "transport"
    return "ambiguous"


def _caused(error: BwmsgError, cause: BaseException) -> BwmsgError:
    error.__cause__ = cause
    return error


def short(error: BaseException) -> str:
    """An error in a few words for a log line: its HTTP status and type, or its class."""
    if isinstance(error, ApiError):
        return f"HTTP {error.status}" + (f" {error.type}" if error.type else "")
    return type(error).__name__


def message_from_request(request: MessageRequest, application_id: str | None) -> Message:
    """The Message to report when Bandwidth accepted ``request`` but its answer could not be
    read."""
    echoed = {name: getattr(request, name) for name in _ECHOED}
    return Message(application_id=request.application_id or application_id, **echoed)


# The fields of a request that its Message repeats as they are.
_ECHOED = ("to", "from_", "text", "media", "tag", "priority", "expiration")
