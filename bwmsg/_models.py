"""The public data model: requests, responses, results and their enums.

Only :mod:`bwmsg._convert` knows how these look as JSON.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._errors import BwmsgError, FieldError, RequestValidationError
from ._text_enum import TextEnum

__all__ = [
    "MAX_GROUP_RECIPIENTS",
    "MAX_MEDIA",
    "MAX_MEDIA_URL_LENGTH",
    "MAX_TAG_LENGTH",
    "MAX_TEXT_LENGTH",
    "Direction",
    "Message",
    "MessageRequest",
    "Outcome",
    "Priority",
    "SendResult",
    "parse_datetime",
]

MAX_GROUP_RECIPIENTS = 10  # Bandwidth error 4435 beyond this
MAX_TEXT_LENGTH = 2048
MAX_MEDIA_URL_LENGTH = 4096
MAX_MEDIA = 10  # attachments a message may carry (Bandwidth's MMS limits)
MAX_TAG_LENGTH = 1024
MAX_SENDER_ID_LENGTH = 11


class Priority(TextEnum):
    """Sending priority of a message relative to the account's other messages."""

    DEFAULT = "default"
    HIGH = "high"


class Direction(TextEnum):
    """Direction of a message: ``out`` (sent by you) or ``in`` (received)."""

    IN = "in"
    OUT = "out"


class Outcome(TextEnum):
    """What is known about one send once bwmsg has finished with it.

    - ``SENT``: Bandwidth accepted the message (answered 202).
    - ``FAILED``: the message was certainly not sent (validation error, a 4xx/5xx answer, or
      a connection that never carried the request). Sending it again cannot make a duplicate.
    - ``UNKNOWN``: the request may have reached Bandwidth but no answer came back (timeout,
      dropped connection). It may have been sent; sending it again may make a duplicate.
    """

    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


# E.164: '+', then 1 to 15 digits, the first not 0.
_E164 = re.compile(r"\+[1-9][0-9]{0,14}")
# Alphanumeric sender ID: up to 11 of letters, digits, space, - + _ &, at least one letter.
_SENDER_ID = re.compile(r"[A-Za-z0-9 \-+_&]{1,11}")
_LETTER = re.compile(r"[A-Za-z]")
# RFC 3339 / ISO 8601 date-time; the separator may be 'T', 't' or a space, the fraction any
# length, the offset 'Z' or +hh:mm (also +hhmm, as some servers write it).
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def parse_datetime(value: str) -> datetime:
    """Read an RFC-3339 / ISO-8601 date-time (``Z`` or an offset; none means UTC).

    Works the same on every supported Python (``datetime.fromisoformat`` reads ``Z`` only from
    3.11). Raises ValueError when ``value`` is not such a date-time.
    """
    m = _DATETIME.fullmatch(value.strip())
    if m is None:
        raise ValueError(f"not an RFC-3339 date-time: {value!r}")
    year, month, day, hour, minute, second, frac, _zulu, sign, off_h, off_m = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    if sign:
        from datetime import timedelta

        delta = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(delta if sign == "+" else -delta)
    else:
        tz = timezone.utc
    return datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
    )


def _to_tuple(value: object) -> tuple[Any, ...]:
    if type(value) is str:
        return (value,)
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(value)
    return (value,)


def _to_priority(value: object) -> object:
    if value is None or isinstance(value, Priority):
        return value
    if isinstance(value, str):
        try:
            return Priority(value.lower())
        except ValueError:
            return value  # reported by validation, with the other problems
    return value


def _to_expiration(value: object) -> object:
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return value  # reported by validation
    return value


def _text_or_none(value: object) -> object:
    return None if value == "" else value


def _check_number_list(to: tuple[Any, ...], errors: list[FieldError]) -> None:
    if not to:
        errors.append(FieldError(field_name="to", description="at least one recipient is required"))
        return
    if len(to) > MAX_GROUP_RECIPIENTS:
        errors.append(
            FieldError(
                field_name="to",
                description=f"a group message takes at most {MAX_GROUP_RECIPIENTS} recipients, "
                f"got {len(to)} (Bandwidth error 4435)",
            )
        )
    seen: set[str] = set()
    for i, number in enumerate(to):
        problem = _recipient_problem(number, seen)
        if problem is not None:
            errors.append(FieldError(field_name="to", description=f"recipient {i} {problem}"))


def _recipient_problem(number: object, seen: set[str]) -> str | None:
    # What is wrong with one recipient (None: nothing; it is then in ``seen``).
    if not isinstance(number, str):
        return f"must be a string, got {type(number).__name__}"
    if not _E164.fullmatch(number):
        return (
            f"{number!r} is not an E.164 number ('+' then 1 to 15 digits, the first not 0, "
            "e.g. +19195551212)"
        )
    if number in seen:
        return f"{number!r} is repeated"
    seen.add(number)
    return None


def _check_from(value: object, errors: list[FieldError]) -> None:
    if not isinstance(value, str) or not value:
        errors.append(
            FieldError(
                field_name="from",
                description="required: an E.164 number (+19195550000) or an alphanumeric sender ID",
            )
        )
    elif value.startswith("+") and value[1:].isdigit():
        if not _E164.fullmatch(value):
            errors.append(
                FieldError(
                    field_name="from",
                    description=f"{value!r} is not an E.164 number "
                    "('+' then 1 to 15 digits, the first not 0)",
                )
            )
    elif not (_SENDER_ID.fullmatch(value) and _LETTER.search(value)):
        errors.append(
            FieldError(
                field_name="from",
                description=f"{value!r} is neither an E.164 number nor a sender ID (at most "
                f"{MAX_SENDER_ID_LENGTH} of letters, digits, space, - + _ &, with at least one "
                "letter)",
            )
        )


def _check_media(media: tuple[Any, ...], errors: list[FieldError]) -> None:
    if len(media) > MAX_MEDIA:
        errors.append(
            FieldError(
                field_name="media",
                description=f"{len(media)} URLs; a message carries at most {MAX_MEDIA}",
            )
        )
    for i, url in enumerate(media):
        problem = _url_problem(url)
        if problem is not None:
            errors.append(FieldError(field_name="media", description=f"URL {i} {problem}"))


def _url_problem(url: object) -> str | None:
    # What is wrong with one media URL (None: nothing).
    problem = _string_problem(url, MAX_MEDIA_URL_LENGTH)
    if problem is not None or not isinstance(url, str):
        return problem
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        return "contains spaces or control characters: percent-encode them (%20 for a space)"
    try:
        parts = urlsplit(url)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        ok = ok and _authority_ends_well(parts.netloc) and (parts.port or 0) >= 0
    except ValueError:  # a port that is not digits, or out of range
        ok = False
    if ok:
        return None
    shown = url if len(url) <= 80 else url[:77] + "..."
    return f"{shown!r} is not an http(s) URL with a host"


def _authority_ends_well(netloc: str) -> bool:
    """An IP literal's ``]`` is followed by ``:port`` or nothing (RFC 3986, 3.2.2)."""
    host = netloc.rpartition("@")[2]
    if not host.startswith("["):
        return True
    rest = host.partition("]")[2]
    return rest == "" or rest.startswith(":")


_IS_E164 = _E164.fullmatch


def _plainly_valid(req: MessageRequest) -> bool:
    # The common case (one recipient, E.164 numbers, text, no media or expiration) checked
    # cheaply: building requests is on send_many's hot path. Anything else gets _validate.
    to = req.to
    if len(to) != 1 or type(to[0]) is not str or not _IS_E164(to[0]):
        return False
    if type(req.from_) is not str or not _IS_E164(req.from_):
        return False
    text, tag, app = req.text, req.tag, req.application_id
    return (
        type(text) is str
        and len(text) <= MAX_TEXT_LENGTH
        and not req.media
        and (tag is None or (type(tag) is str and len(tag) <= MAX_TAG_LENGTH))
        and (app is None or (type(app) is str and bool(app.strip())))
        and (req.priority is None or type(req.priority) is Priority)
        and req.expiration is None
    )


def _string_problem(value: object, limit: int) -> str | None:
    # What keeps ``value`` from being a string of at most ``limit`` characters (None: nothing).
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit} are allowed"
    return None


def _check_string(value: object, name: str, limit: int, errors: list[FieldError]) -> None:
    problem = _string_problem(value, limit)
    if problem is not None:
        errors.append(FieldError(field_name=name, description=problem))


def _validate(req: MessageRequest, errors: list[FieldError]) -> None:
    _check_number_list(req.to, errors)
    _check_from(req.from_, errors)
    text = req.text
    if text is not None:
        _check_string(text, "text", MAX_TEXT_LENGTH, errors)
    _check_media(req.media, errors)
    if text is None and not req.media:
        errors.append(
            FieldError(
                field_name="text",
                description="a message needs text, media, or both (empty text counts as none)",
            )
        )
    if req.tag is not None:
        _check_string(req.tag, "tag", MAX_TAG_LENGTH, errors)
    app = req.application_id
    if app is not None and (not isinstance(app, str) or not app.strip()):
        errors.append(
            FieldError(field_name="applicationId", description="must be a non-empty string")
        )
    if req.priority is not None and not isinstance(req.priority, Priority):
        errors.append(
            FieldError(
                field_name="priority",
                description=f"{req.priority!r} is not one of 'default', 'high'",
            )
        )
    exp = req.expiration
    if exp is not None:
        if not isinstance(exp, datetime):
            errors.append(
                FieldError(
                    field_name="expiration",
                    description=f"{exp!r} is not an RFC-3339 date-time "
                    "(e.g. 2021-03-14T01:59:26Z) or a datetime",
                )
            )
        elif exp.tzinfo is None or exp.utcoffset() is None:
            errors.append(
                FieldError(
                    field_name="expiration",
                    description="must be timezone-aware (e.g. datetime.now(timezone.utc) + ...)",
                )
            )
        elif exp <= datetime.now(timezone.utc):
            errors.append(
                FieldError(
                    field_name="expiration",
                    description=f"{exp.isoformat()} is not in the future",
                )
            )


@attrs.frozen(kw_only=True)
class MessageRequest:
    """One message to send.

    Construction checks everything that can be known before sending and raises
    :class:`~bwmsg.RequestValidationError` naming every problem at once (by JSON field name).

    Args:
        to: one E.164 number, or a sequence of 1 to 10 distinct ones (a group message).
            Stored as a tuple.
        from_: the sending number in E.164 form, or an alphanumeric sender ID.
        text: at most 2048 characters. Required unless ``media`` is given; ``""`` counts as
            absent.
        application_id: the Bandwidth messaging application; when None, the Sender's is used.
        media: URLs (http or https, each at most 4096 characters); makes the message MMS.
        tag: at most 1024 characters, echoed in delivery callbacks. Never put personal data
            in it.
        priority: ``Priority`` or ``"default"`` / ``"high"``.
        expiration: a timezone-aware ``datetime`` or an RFC-3339 string, in the future.
    """

    to: tuple[str, ...] = attrs.field(converter=_to_tuple)
    from_: str
    text: str | None = attrs.field(default=None, converter=_text_or_none)
    application_id: str | None = None
    media: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple)
    tag: str | None = None
    priority: Priority | None = attrs.field(default=None, converter=_to_priority)
    expiration: datetime | None = attrs.field(default=None, converter=_to_expiration)

    def __attrs_post_init__(self) -> None:
        if _plainly_valid(self):
            return
        errors: list[FieldError] = []
        _validate(self, errors)
        if errors:
            raise RequestValidationError(errors)

    @property
    def is_mms(self) -> bool:
        """True when the message carries media (and is therefore sent as MMS)."""
        return bool(self.media)


@attrs.frozen(kw_only=True)
class Message:
    """A message as Bandwidth describes it (the body of a 202 answer).

    Every field is optional because the service's answer is read leniently: unknown fields are
    ignored and a missing or malformed field is None (or empty).
    """

    id: str | None = None
    owner: str | None = None
    application_id: str | None = None
    time: datetime | None = None
    segment_count: int | None = None
    direction: Direction | None = None
    to: tuple[str, ...] = ()
    from_: str | None = None
    media: tuple[str, ...] = ()
    text: str | None = None
    tag: str | None = None
    priority: Priority | None = None
    expiration: datetime | None = None


@attrs.frozen(kw_only=True)
class SendResult:
    """What happened to one request of :meth:`~bwmsg.Sender.send_many`.

    Attributes:
        index: the request's position in the input (0-based).
        request: the request as given.
        outcome: ``Outcome.SENT``, ``Outcome.FAILED`` (certainly not sent) or
            ``Outcome.UNKNOWN`` (may have been sent).
        message: Bandwidth's answer, when SENT.
        error: the last error, when not SENT.
        attempts: how many HTTP requests were made for it (0 if refused before sending).
        elapsed: seconds from the first attempt to the outcome, backoff included.
    """

    index: int
    request: MessageRequest
    outcome: Outcome
    message: Message | None = None
    error: BwmsgError | None = None
    attempts: int = 0
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the message was sent."""
        return self.outcome is Outcome.SENT
