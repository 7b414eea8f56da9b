"""The error tree of bwmsg.

Every exception the public API raises is a :class:`BwmsgError`; aiohttp's own exceptions never
leak out, they are wrapped and kept as ``__cause__``::

    BwmsgError
    ├── RequestValidationError      (also ValueError) invalid before anything was sent
    ├── ApiError                    the service answered with an error status: NOT sent
    │   ├── BadRequestError         400
    │   ├── AuthenticationError     401
    │   ├── ForbiddenError          403
    │   ├── NotFoundError           404
    │   ├── RateLimitedError        429
    │   └── ServerError             5xx
    ├── TransportError              the request never reached the server: NOT sent
    │   └── StoppedError            send_many was stopped before it was written: NOT sent
    ├── AmbiguousSendError          it may have reached the server: MAY have been sent
    ├── CallbackParseError          (also ValueError) a callback body bwmsg cannot read
    └── the campaign tools' errors (bwmsg.campaign), raised before anything is sent:
        ├── InputError              (also ValueError) the recipients file cannot be read
        ├── RenderError             (also ValueError) a row cannot become a message
        ├── PreflightError          (also ValueError) the template or settings cannot work
        ├── JournalMismatch         (also ValueError) the journal is another campaign's
        ├── JournalUrlError         (also ValueError) a PostgreSQL journal cannot be used
        ├── UnknownCampaign         (also ValueError) no such campaign in that journal
        ├── JournalBusy             (also RuntimeError) another process holds the journal
        ├── LeaseLost               a worker's lease ran out: it sends nothing more
        └── ReportUnavailable       (also RuntimeError) campaign report needs plotly

Any 4xx or 5xx answer means Bandwidth neither sent nor billed the message, so an
:class:`ApiError` is a certain failure; so is a :class:`TransportError`. Only
:class:`AmbiguousSendError` (a timeout or a dropped connection after the request was written)
leaves the outcome open.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._printable import printable

__all__ = [
    "AmbiguousSendError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "BwmsgError",
    "FieldError",
    "ForbiddenError",
    "NotFoundError",
    "RateLimitedError",
    "RequestValidationError",
    "ServerError",
    "StoppedError",
    "TransportError",
    "api_error_from_response",
]

# How much of a body that is not JSON is kept in the error's message (the whole is in `.body`).
_BODY_EXCERPT = 200
_DESCRIPTION = 500  # characters of a description or field error shown in a message
_FIELD_ERRORS_SHOWN = 20


@attrs.frozen(kw_only=True)
class FieldError:
    """One problem with one field of a request.

    Attributes:
        field_name: the JSON name of the field (``to``, ``from``, ``applicationId`` ...).
        description: what is wrong with it, in words.
    """

    field_name: str
    description: str

    def __str__(self) -> str:
        return f"{self.field_name}: {self.description}"


class BwmsgError(Exception):
    """Base class of every error bwmsg raises."""


class RequestValidationError(BwmsgError, ValueError):
    """A request is invalid; nothing was sent.

    Raised when a :class:`~bwmsg.MessageRequest` is built (or sent without an application id).
    Every problem is reported at once.

    Attributes:
        field_errors: one :class:`FieldError` per problem, named by JSON field name.
    """

    def __init__(self, field_errors: Iterable[FieldError]) -> None:
        self.field_errors: tuple[FieldError, ...] = tuple(field_errors)
        lines = "\n".join(f"  - {fe}" for fe in self.field_errors)
        count = len(self.field_errors)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid message request ({count} {noun}):\n{lines}")


class ApiError(BwmsgError):
    """Bandwidth answered with an error status. The message was neither sent nor billed.

    Attributes:
        status: the HTTP status code.
        type: the error ``type`` from the body (``request-validation``, ...), or None.
        description: the error ``description`` from the body, or None.
        field_errors: the body's ``fieldErrors``, empty when there were none.
        body: the response body as text (may be empty, or not JSON at all).
        retry_after: seconds asked to wait by a ``Retry-After`` header, or None.
        reason: the HTTP reason phrase, when known.
    """

    def __init__(
        self,
        status: int,
        *,
        type: str | None = None,  # the API's own field name
        description: str | None = None,
        field_errors: Iterable[FieldError] = (),
        body: str = "",
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.type = type
        self.description = description
        self.field_errors: tuple[FieldError, ...] = tuple(field_errors)
        self.body = body
        self.reason = reason
        super().__init__(self._render())

    def _render(self) -> str:
        # The server wrote all of this: the message shows it printable and bounded (the
        # attributes keep it as it came).
        head = f"HTTP {self.status}"
        if self.reason:
            head += f" {printable(self.reason, 100)}"
        parts = [head]
        if self.type:
            parts.append(printable(self.type, 100))
        if self.description:
            parts.append(printable(self.description, _DESCRIPTION))
        elif not self.type and self.body.strip():
            parts.append(f"body: {printable(' '.join(self.body.split()), _BODY_EXCERPT)}")
        text = ": ".join(parts)
        shown = self.field_errors[:_FIELD_ERRORS_SHOWN]
        for fe in shown:
            name, desc = printable(fe.field_name, 100), printable(fe.description, _DESCRIPTION)
            text += f"\n  - {name}: {desc}"
        if len(self.field_errors) > len(shown):
            text += f"\n  ... and {len(self.field_errors) - len(shown)} more field errors"
        return text


class BadRequestError(ApiError):
    """400: the service refused the request as invalid (see ``field_errors``)."""


class AuthenticationError(ApiError):
    """401: the credentials were refused. Check ``BW_USERNAME`` / ``BW_PASSWORD``."""


class ForbiddenError(ApiError):
    """403: the credentials are valid but may not use this account or application."""


class NotFoundError(ApiError):
    """404: the account or path does not exist. Check the account id and ``base_url``."""


class RateLimitedError(ApiError):
    """429: the account's queue is full (``max-message-queue-size-exceeded``).

    ``retry_after`` is the seconds a ``Retry-After`` header asked for, or None: the send
    endpoint never sends one.
    """


class ServerError(ApiError):
    """5xx: the service failed. The message was not sent; retrying is safe."""


class TransportError(BwmsgError):
    """The request never reached the server (connection refused, DNS, connect timeout, TLS).

    The message was certainly not sent, so it is always safe to retry; ``retryable`` is False
    only where retrying cannot help (a certificate that is not trusted, a malformed URL).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class StoppedError(TransportError):
    """``send_many`` was stopped (its ``stop`` event set) before this request was written.

    Nothing of the request reached a socket, so the message was certainly not sent and may be
    sent again. ``attempts`` of its :class:`~bwmsg.SendResult` counts the earlier attempts
    that were made and failed (the message names the last one's error).
    """


class AmbiguousSendError(BwmsgError):
    """The request may have reached the server, but no answer came back.

    A timeout or a dropped connection after the request was written: the message may or may
    not have been accepted. Retrying can send it twice, so it is retried only with
    ``RetryPolicy(retry_ambiguous=True)``.
    """


_BY_STATUS: Mapping[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    429: RateLimitedError,
}


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def _field_errors(value: object) -> list[FieldError]:
    if not isinstance(value, list):
        return []
    found = []
    for item in value:
        if isinstance(item, Mapping):
            name = _text(item.get("fieldName")) or ""
            desc = _text(item.get("description")) or ""
            found.append(FieldError(field_name=name, description=desc))
        elif item is not None:
            found.append(FieldError(field_name="", description=_text(item) or ""))
    return found


def api_error_from_response(
    status: int,
    body: bytes,
    *,
    reason: str | None = None,
    retry_after: float | None = None,
) -> ApiError:
    """Build the right :class:`ApiError` subclass from any error response.

    Understands Bandwidth's ``{type, description, fieldErrors}`` body, the Spring-style 404 body
    ``{timestamp, status, error, message, path}``, and bodies that are empty, not JSON, or JSON
    of an unexpected shape.
    """
    text = body.decode("utf-8", errors="replace")
    type_: str | None = None
    description: str | None = None
    field_errors: list[FieldError] = []
    try:
        data = json.loads(text) if text.strip() else None
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        data = None
    if isinstance(data, Mapping):
        type_ = _text(data.get("type"))
        description = _text(data.get("description"))
        field_errors = _field_errors(data.get("fieldErrors"))
        if type_ is None and description is None:
            # Spring Boot's error body: {timestamp, status, error, message, path}
            type_ = _text(data.get("error"))
            description = _text(data.get("message"))
            path = _text(data.get("path"))
            if description and path:
                description = f"{description} (path {path})"
            elif path:
                description = f"path {path}"
    cls: type[ApiError]
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif 500 <= status <= 599:
        cls = ServerError
    else:
        cls = ApiError
    kwargs: dict[str, Any] = {
        "type": type_ or None,
        "description": description or None,
        "field_errors": field_errors,
        "body": text,
        "reason": reason,
        "retry_after": retry_after,
    }
    return cls(status, **kwargs)
