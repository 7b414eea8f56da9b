"""Quiet hours in the recipient's time: parsing, zones from the number, when a held row opens."""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from bwmsg.campaign._quiet import NEVER, held_until, parse_quiet_hours, zones_of

NEW_YORK = "+12125551234"
LOS_ANGELES = "+13105551234"
HONOLULU = "+18085551234"
MIAMI = "+13055551234"  # Florida: the TCPA preset ends its day at 20:00
TULSA = "+19185551234"  # Oklahoma, likewise
TOLL_FREE = "+18005551234"  # every NANP zone, Guam to Newfoundland
UNKNOWN = "+15555551234"  # 555: no zone


def utc(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=timezone.utc)


EVENING = parse_quiet_hours("21:00-08:00")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("21:00-08:00", time(21), time(8)), (" 9:30 - 17:45 ", time(9, 30), time(17, 45))],
)
def test_parse(text: str, start: time, end: time) -> None:
    hours = parse_quiet_hours(text)
    assert (hours.start, hours.end) == (start, end)


@pytest.mark.parametrize("text", ["21-08", "25:00-08:00", "21:00-08:60", "", "evening"])
def test_parse_errors_name_the_flag_and_the_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"--quiet-hours must be HH:MM-HH:MM .*21:00-08:00"):
        parse_quiet_hours(text)


def test_an_empty_span_is_refused() -> None:
    with pytest.raises(ValueError, match="empty span"):
        parse_quiet_hours("08:00-08:00")


def test_zones_come_from_the_number() -> None:
    assert [z.key for z in zones_of(NEW_YORK)] == ["America/New_York"]
    assert [z.key for z in zones_of(HONOLULU)] == ["Pacific/Honolulu"]
    assert len(zones_of(TOLL_FREE)) > 10
    assert zones_of(UNKNOWN) == ()
    assert zones_of("not a number") == ()


def test_at_0330_utc_new_york_is_held_while_the_west_goes() -> None:
    """03:30 UTC is 22:30 in New York (quiet), 19:30 in Los Angeles, 17:30 in Honolulu."""
    now = utc(3, 30)
    assert held_until([NEW_YORK], EVENING, now) == utc(13)  # 08:00 EST
    assert held_until([LOS_ANGELES], EVENING, now) is None
    assert held_until([HONOLULU], EVENING, now) is None


def test_released_when_the_window_opens() -> None:
    assert held_until([NEW_YORK], EVENING, utc(12, 59)) == utc(13)
    assert held_until([NEW_YORK], EVENING, utc(13)) is None
    assert held_until([NEW_YORK], EVENING, utc(14)) is None
    assert held_until([LOS_ANGELES], EVENING, utc(14)) == utc(16)  # 08:00 PST


def test_a_group_waits_for_its_latest_member() -> None:
    """New York opens at 13:00 UTC, Honolulu at 18:00 UTC: the group goes at 18:00."""
    assert held_until([NEW_YORK, HONOLULU], EVENING, utc(12)) == utc(18)


def test_a_number_spanning_zones_goes_only_when_all_allow() -> None:
    """A toll-free number may be anywhere from Guam (UTC+10) to Pago Pago (UTC-11): it goes at
    22:00 UTC, when Guam reaches 08:00 and Newfoundland is still before 21:00."""
    moment = held_until([TOLL_FREE], EVENING, utc(18))
    assert moment == utc(22)
    zones = zones_of(TOLL_FREE)
    assert all(time(8) <= moment.astimezone(z).time() < time(21) for z in zones)
    before = utc(21, 59)
    assert not all(time(8) <= before.astimezone(z).time() < time(21) for z in zones)
    # Allowed only from 11:00 to 12:00 local: zones hours apart never share that hour.
    assert held_until([TOLL_FREE], parse_quiet_hours("12:00-11:00"), utc(18)) == NEVER


def test_a_number_with_no_known_zone_is_held() -> None:
    assert held_until([UNKNOWN], EVENING, utc(18)) == NEVER
    assert held_until([NEW_YORK, UNKNOWN], EVENING, utc(18)) == NEVER


def test_tcpa_preset_ends_florida_and_oklahoma_at_eight() -> None:
    tcpa = parse_quiet_hours("tcpa")
    # 01:30 UTC = 20:30 EST in Miami (held under the Florida rule), 20:30 in New York (goes),
    # 19:30 CST in Tulsa (goes: before 20:00).
    now = utc(1, 30)
    assert held_until([MIAMI], tcpa, now) == utc(13)
    assert held_until([NEW_YORK], tcpa, now) is None
    assert held_until([TULSA], tcpa, now) is None
    assert held_until([TULSA], tcpa, utc(2, 30)) == utc(14)  # 20:30 CST: held until 08:00
    assert "Florida" in tcpa.describe()


def test_daylight_saving_time_moves_the_opening() -> None:
    """In July New York is UTC-4: 08:00 local is 12:00 UTC."""
    july = datetime(2026, 7, 2, 3, 30, tzinfo=timezone.utc)
    assert held_until([NEW_YORK], EVENING, july) == datetime(2026, 7, 2, 12, tzinfo=timezone.utc)


def test_quiet_hours_within_one_day() -> None:
    lunch = parse_quiet_hours("12:00-13:00")
    assert held_until([NEW_YORK], lunch, utc(17, 30)) == utc(18)  # 12:30 EST
    assert held_until([NEW_YORK], lunch, utc(18, 30)) is None
