"""Quiet hours: when a recipient may be texted, in the recipient's own time.

A number's time zones come from the ``phonenumbers`` library's time-zone data (the full
package; ``bwmsg[phone]``). A number that may be in several zones (an 800 number, a country
with several) may be texted only when every one of its zones allows it; a number with no
known zone is held (nothing says it is daytime there). The next moment a held recipient may
be texted is the first zone-opening in the next two days at which all its zones are open:
where no such moment exists (zones more than the allowed window apart), it is never.

``--quiet-hours tcpa`` is the US rule: no texts before 8 a.m. or after 9 p.m. where the
recipient is (47 CFR 64.1200(c)(1)), and 8 a.m. to 8 p.m. for Florida and Oklahoma numbers
(Florida Statutes 501.616(6)(a); Oklahoma Statutes title 15, section 775C.4), told by their
area codes. These are facts a sender's counsel should check, not legal advice.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

__all__ = ["NEVER", "QuietHours", "held_until", "parse_quiet_hours", "zones_of"]

NEVER = datetime.max.replace(tzinfo=timezone.utc)
"""``held_until``'s answer for a recipient that no moment allows (or whose zone is unknown)."""

_RANGE = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")

# Area codes (NANP, +1) of Florida and Oklahoma, whose laws end the calling day at 8 p.m.
# More codes here only make the rule stricter.
_FLORIDA = (
    "239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863 904 941 954"
)
_OKLAHOMA = "405 539 572 580 918"
_EIGHT_PM_AREAS = frozenset((_FLORIDA + " " + _OKLAHOMA).split())


@attrs.frozen
class QuietHours:
    """No texts from ``start`` to ``end`` (local time; the span may cross midnight).

    ``stricter``: area codes (of +1 numbers) that use ``stricter_start`` instead of
    ``start`` (the TCPA preset's Florida and Oklahoma numbers).
    """

    start: time
    end: time
    stricter_start: time | None = None
    stricter: frozenset[str] = frozenset()

    def start_for(self, number: str) -> time:
        """When the quiet begins for ``number``."""
        local = number.startswith("+1") and len(number) == 12
        if self.stricter_start is not None and local and number[2:5] in self.stricter:
            return self.stricter_start
        return self.start

    def quiet(self, number: str, local: time) -> bool:
        """Whether ``local`` (the recipient's wall-clock time) is within the quiet hours."""
        start = self.start_for(number)
        if start <= self.end:  # e.g. 00:00-06:00
            return start <= local < self.end
        return local >= start or local < self.end  # crosses midnight, e.g. 21:00-08:00

    def describe(self) -> str:
        """The hours as the operator wrote them (``21:00-08:00``)."""
        text = f"{self.start:%H:%M}-{self.end:%H:%M}"
        if self.stricter_start is not None:
            text += f" ({self.stricter_start:%H:%M}-{self.end:%H:%M} for Florida and Oklahoma)"
        return text


def parse_quiet_hours(value: str, flag: str = "--quiet-hours") -> QuietHours:
    """``HH:MM-HH:MM`` (or ``tcpa``) as quiet hours.

    Raises:
        ValueError: naming ``flag``, the value and the form expected.
    """
    if value.strip().lower() == "tcpa":
        return QuietHours(time(21), time(8), stricter_start=time(20), stricter=_EIGHT_PM_AREAS)
    match = _RANGE.fullmatch(value)
    problem = f"{flag} must be HH:MM-HH:MM in the recipient's time (e.g. 21:00-08:00) or tcpa"
    if match is None:
        raise ValueError(f"{problem}, got {value!r}")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"{problem}, got {value!r} (hours 00-23, minutes 00-59)")
    if (h1, m1) == (h2, m2):
        raise ValueError(f"{flag} {value!r} is an empty span: give different start and end")
    return QuietHours(time(h1, m1), time(h2, m2))


@functools.lru_cache(maxsize=4096)
def zones_of(number: str) -> tuple[ZoneInfo, ...]:
    """The time zones ``number`` (E.164) may be in; empty when none is known.

    Raises:
        RuntimeError: the full ``phonenumbers`` package is not installed.
    """
    try:
        import phonenumbers
        from phonenumbers import timezone as number_zones
    except ImportError as exc:  # phonenumberslite has no time-zone data
        raise RuntimeError(
            "quiet hours need the phonenumbers package with its time-zone data: "
            "pip install 'bwmsg[phone]'"
        ) from exc
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ()
    zones = []
    for name in number_zones.time_zones_for_number(parsed):
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):  # Etc/Unknown, or a zone the system lacks
            return ()
    return tuple(zones)


def _openings(hours: QuietHours, zone: ZoneInfo, now: datetime) -> list[datetime]:
    """The moments (UTC) in the next three days when the quiet ends in ``zone``."""
    today = now.astimezone(zone).date()
    found = []
    for day in range(-1, 4):
        opening = datetime.combine(today + timedelta(days=day), hours.end, tzinfo=zone)
        moment = opening.astimezone(timezone.utc)
        if now < moment <= now + timedelta(days=3):
            found.append(moment)
    return found


def _allowed(hours: QuietHours, pairs: list[tuple[str, ZoneInfo]], moment: datetime) -> bool:
    return not any(hours.quiet(number, moment.astimezone(zone).time()) for number, zone in pairs)


def held_until(numbers: Iterable[str], hours: QuietHours, now: datetime) -> datetime | None:
    """None when every one of ``numbers`` may be texted at ``now`` (aware); else the first
    moment (UTC) when all of them may, or :data:`NEVER` (no such moment in the next days, or
    a number whose time zone is unknown)."""
    pairs: list[tuple[str, ZoneInfo]] = []
    for number in numbers:
        zones = zones_of(number)
        if not zones:
            return NEVER
        pairs.extend((number, zone) for zone in zones)
    if _allowed(hours, pairs, now):
        return None
    # Where every zone is open, the span begins as one of them opens: try each opening.
    candidates = sorted({m for zone in {z for _, z in pairs} for m in _openings(hours, zone, now)})
    for moment in candidates:
        if _allowed(hours, pairs, moment):
            return moment
    return NEVER
