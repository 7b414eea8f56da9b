"""The simulator's own check of a message-create body (``POST /users/{accountId}/messages``).

The simulator plays the service, so these rules are written from Bandwidth's description and
import nothing from the client (``bwmsg._models`` has rules of its own). If a client rule is
too lenient, the simulator does not share the mistake and refuses the request. Each rule gives
its source:

- [spec] ``bandwidth.yml``, ``components.schemas.messageRequest``: ``required: [applicationId,
  to, from]``; ``to`` an array of strings with ``uniqueItems``, "in E164 format"; ``from`` "an
  alphanumeric sender ID or ... phone number in E.164 format", a sender ID being "up to 11
  characters, upper-case letters A-Z, lower-case letters a-z, numbers 0-9, space, hyphen -,
  plus +, underscore _ and ampersand &" with "at least one letter". And the schemas it refers
  to: ``messageText`` (``maxLength: 2048``), ``messageMedia`` (strings, ``format: uri``,
  ``maxLength: 4096``), ``tag`` (a string), ``priorityEnum`` (``default`` | ``high``, exact)
  and ``expiration`` ("a valid RFC-3339 value ... Must be a date-time in the future").
- [live] ``specs/README.md`` lists where the live service differs: ``tag`` at most 1024
  characters (the schema sets no ``maxLength``); a group message at most 10 recipients (error
  4435).
- [docs] Bandwidth's documentation: ``to`` may be one string or an array of one or more
  numbers, and ``text`` is required unless ``media`` is given (dev.bandwidth.com, "Send SMS or
  MMS Messages"). Media: at most 10 attachments, each fetched by Bandwidth from its URL
  (bandwidth.com support, "What types of limits apply to MMS Messages?"). An unknown key is
  answered 400 (DESIGN.md, "Beyond the library").
- [E.164] ITU-T E.164: a ``+`` and at most 15 digits; no country code starts with 0.
- [RFC 3986] a URI's scheme is followed by ``//`` and an authority, which holds a host (a
  name, or an IP literal in brackets) and an optional port made of digits only.

Not checked here, because no document says the service refuses them: an upper limit on
``expiration`` (the docs say only "in the future"); percent-encoding and non-ASCII characters in
media URLs (``format: uri`` is an annotation in OpenAPI 3.0, and the service fetches the URL);
``expiration`` together with ``media`` (older SDK docs said "Not supported on MMS"; this
revision of the spec does not).

A JSON ``null`` counts as an absent field, and an empty ``text`` counts as no text.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, NamedTuple

from ._dates import read_rfc3339

__all__ = ["KNOWN_FIELDS", "FieldError", "validate"]

KNOWN_FIELDS = frozenset(
    ("to", "from", "text", "media", "tag", "priority", "expiration", "applicationId")
)  # [spec] messageRequest.properties; any other key is refused [docs]
PRIORITIES = ("default", "high")  # [spec] priorityEnum
MAX_RECIPIENTS = 10  # [live] error 4435
MAX_TEXT = 2048  # [spec] messageText.maxLength
MAX_MEDIA = 10  # [docs] attachments per message
MAX_URL = 4096  # [spec] messageMedia.items.maxLength
MAX_TAG = 1024  # [live]

_E164 = re.compile(r"\+[1-9][0-9]{0,14}")  # [E.164]
_DIGITS_AFTER_PLUS = re.compile(r"\+[0-9]+")
_SENDER_ID = re.compile(r"[A-Za-z0-9 +&_-]{1,11}")  # [spec] messageRequest.from
_LETTER = re.compile(r"[A-Za-z]")
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(?:[/?#].*)?", re.DOTALL)  # [RFC 3986]
_PORT = re.compile(r"[0-9]*")
_IP_FUTURE = re.compile(r"[vV][0-9A-Fa-f]+\.[A-Za-z0-9._~!$&'()*+,;=:-]+")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")

_REQUIRED = {  # [spec] messageRequest.required
    "to": "required: an array of E.164 numbers",
    "from": "required: an E.164 number (+19195550000) or an alphanumeric sender ID",
    "applicationId": "required: the id of a messaging application (a non-empty string)",
}
_NO_CONTENT = "a message needs text, media, or both (empty text counts as none)"


class FieldError(NamedTuple):
    """One problem, as the service names it in a 400 answer's ``fieldErrors``."""

    field_name: str
    description: str


def validate(body: Any) -> list[FieldError]:
    """Every problem with a decoded request body, in the service's terms; empty when valid."""
    if not isinstance(body, dict):
        return [FieldError("body", f"must be a JSON object, got {_json_type(body)}")]
    errors = [FieldError(key, "is not a known field") for key in body if key not in KNOWN_FIELDS]
    for name, check in _CHECKS:
        value = body.get(name)
        if value is not None:
            for description in check(value):
                errors.append(FieldError(name, description))
        elif name in _REQUIRED:
            errors.append(FieldError(name, _REQUIRED[name]))
    if body.get("text") in (None, "") and body.get("media") in (None, []):  # [docs]
        errors.append(FieldError("text", _NO_CONTENT))
    return errors


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# -- one check per field: the descriptions of what is wrong with a value that is present ----------


def _check_to(value: object) -> Iterator[str]:
    """[spec] an array of unique E.164 strings; [docs] or one string, at least one; [live] <= 10."""
    numbers = [value] if isinstance(value, str) else value
    if not isinstance(numbers, list):
        yield f"must be an array of E.164 numbers, got {_json_type(value)}"
        return
    if not numbers:
        yield "at least one recipient is required"
    elif len(numbers) > MAX_RECIPIENTS:
        yield (
            f"a group message takes at most {MAX_RECIPIENTS} recipients, got {len(numbers)} "
            "(Bandwidth error 4435)"
        )
    seen: set[str] = set()
    for i, number in enumerate(numbers):
        if not isinstance(number, str):
            yield f"recipient {i} must be a string, got {_json_type(number)}"
        elif not _E164.fullmatch(number):
            yield (
                f"recipient {i} {number!r} is not an E.164 number "
                "('+' then 1 to 15 digits, the first not 0, e.g. +19195551212)"
            )
        elif number in seen:
            yield f"recipient {i} {number!r} is repeated"
        else:
            seen.add(number)


def _check_from(value: object) -> Iterator[str]:
    """[spec] an E.164 number or a sender ID: 1 to 11 of A-Z a-z 0-9 space - + _ &, a letter."""
    if not isinstance(value, str) or not value:
        yield _REQUIRED["from"]
    elif _E164.fullmatch(value) or (_SENDER_ID.fullmatch(value) and _LETTER.search(value)):
        return
    elif _DIGITS_AFTER_PLUS.fullmatch(value):
        yield f"{value!r} is not an E.164 number ('+' then 1 to 15 digits, the first not 0)"
    else:
        yield (
            f"{value!r} is neither an E.164 number nor a sender ID (at most 11 of letters, "
            "digits, space, - + _ &, with at least one letter)"
        )


def _string_of_at_most(limit: int) -> Callable[[object], Iterator[str]]:
    """[spec] messageText (2048) and tag; [live] the tag's 1024."""

    def check(value: object) -> Iterator[str]:
        if not isinstance(value, str):
            yield f"must be a string, got {_json_type(value)}"
        elif len(value) > limit:
            yield f"is {len(value)} characters long; at most {limit} are allowed"

    return check


def _check_media(value: object) -> Iterator[str]:
    """[spec] an array of URIs of at most 4096 characters; [docs] at most 10, fetched by URL."""
    if not isinstance(value, list):
        yield f"must be an array of URLs, got {_json_type(value)}"
        return
    if len(value) > MAX_MEDIA:
        yield f"has {len(value)} URLs; a message takes at most {MAX_MEDIA} attachments"
    for i, url in enumerate(value):
        problem = _url_problem(url)
        if problem is not None:
            yield f"URL {i} {problem}"


def _url_problem(url: object) -> str | None:
    if not isinstance(url, str):
        return f"must be a string, got {_json_type(url)}"
    if len(url) > MAX_URL:
        return f"is {len(url)} characters long; at most {MAX_URL} are allowed"
    if _SPACE_OR_CONTROL.search(url):  # [RFC 3986] section 2: no URI holds them
        return "contains spaces or control characters: percent-encode them (%20 for a space)"
    match = _URL.fullmatch(url)
    if match is None or match[1].lower() not in ("http", "https") or not _has_host(match[2]):
        shown = url if len(url) <= 80 else url[:77] + "..."
        return f"{shown!r} is not an http(s) URL with a host"
    return None


def _has_host(authority: str) -> bool:
    """[RFC 3986] 3.2: ``[userinfo@]host[:port]``, host non-empty, port digits only."""
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        literal, bracket, after = host_port[1:].partition("]")
        if not bracket or not _is_ip_literal(literal) or after[:1] not in ("", ":"):
            return False
        port = after[1:]
    else:
        host, _, port = host_port.partition(":")
        if not host or "[" in host or "]" in host:
            return False
    return _PORT.fullmatch(port) is not None


def _is_ip_literal(text: str) -> bool:
    """[RFC 3986] 3.2.2: ``IP-literal = "[" ( IPv6address / IPvFuture ) "]"``."""
    if _IP_FUTURE.fullmatch(text):
        return True
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _check_priority(value: object) -> Iterator[str]:
    """[spec] priorityEnum, matched exactly (``"HIGH"`` is not in it)."""
    if not isinstance(value, str) or value not in PRIORITIES:
        yield f"{value!r} is not one of 'default', 'high'"


def _check_expiration(value: object) -> Iterator[str]:
    """[spec] expiration: an RFC 3339 date-time (offset required), in the future."""
    if not isinstance(value, str):
        yield f"must be an RFC-3339 date-time string, got {_json_type(value)}"
        return
    when = read_rfc3339(value)
    if when is None:
        yield (
            f"{value!r} is not an RFC-3339 date-time with an offset "
            "(e.g. 2021-03-14T01:59:26Z or 2021-03-13T20:59:26-05:00)"
        )
    elif when <= datetime.now(timezone.utc):
        yield f"{value} is not in the future"


def _check_application_id(value: object) -> Iterator[str]:
    """[spec] a required string; a blank one names no application, so it counts as absent."""
    if not isinstance(value, str) or not value.strip():
        yield _REQUIRED["applicationId"]


_CHECKS: tuple[tuple[str, Callable[[object], Iterator[str]]], ...] = (
    ("to", _check_to),
    ("from", _check_from),
    ("text", _string_of_at_most(MAX_TEXT)),
    ("media", _check_media),
    ("tag", _string_of_at_most(MAX_TAG)),
    ("priority", _check_priority),
    ("expiration", _check_expiration),
    ("applicationId", _check_application_id),
)
