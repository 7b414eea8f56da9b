"""Date-times as the simulated service reads them, written from the RFC rather than the client.

- :func:`read_rfc3339` is the strict reader for a message's ``expiration``: bandwidth.yml
  (``components.schemas.expiration``) says "This must be a valid RFC-3339 value, e.g.,
  2021-03-14T01:59:26Z or 2021-03-13T20:59:26-05:00". RFC 3339 section 5.6: ``full-date "T"
  full-time``, where ``full-time`` ends in ``Z`` or ``+hh:mm`` / ``-hh:mm`` (the offset is
  required, the colon too), digits are ASCII, ``T`` and ``Z`` may be lower case, and the note
  under the grammar lets an application separate date and time with a space instead of ``T``.
- :func:`read_iso8601` is the lenient reader for the list endpoint's ``fromDateTime`` and
  ``toDateTime`` filters, which bandwidth.yml describes only as "ISO 8601 format": the offset
  may be left out (UTC) or written without its colon.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["read_iso8601", "read_rfc3339"]

_DATE_TIME = r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
_RFC3339 = re.compile(_DATE_TIME + r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))")
_ISO8601 = re.compile(_DATE_TIME + r"\s*(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))?")


def read_rfc3339(value: str) -> datetime | None:
    """The aware datetime ``value`` names, or None when it is not an RFC 3339 date-time.

    A date that does not exist (2099-02-30, hour 25, an offset of 24 hours) is None too, and
    so is a leap second (``:60``): none is scheduled, so no future instant carries one.
    """
    match = _RFC3339.fullmatch(value)
    return None if match is None else _build(match)


def read_iso8601(value: str) -> datetime | None:
    """Like :func:`read_rfc3339`, but without an offset meaning UTC and ``+hhmm`` allowed."""
    match = _ISO8601.fullmatch(value.strip())
    return None if match is None else _build(match)


def _build(match: re.Match[str]) -> datetime | None:
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    tz = timezone.utc
    if sign:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(offset if sign == "+" else -offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:  # no such day, hour, minute or second (year 0 included)
        return None
