"""RateLimit accounting: what a request costs, bursts, debts and lanes (no timing); what
RateLimit(redis_url=, name=) checks when it is made, and which gate a Sender gets."""

from __future__ import annotations

import asyncio
import re
import sys

import pytest

from bwmsg import MessageRequest, RateLimit
from bwmsg._throttle import LocalGate, SharedGate, Throttle, _Bucket, charge, open_gate


def req(
    text: str | None = "hi", to: str | list[str] = "+19195551212", **kw: object
) -> MessageRequest:
    return MessageRequest(to=to, from_=kw.pop("from_", "+19195550000"), text=text, **kw)  # type: ignore[arg-type]


def test_single_segment_single_recipient() -> None:
    """A short SMS to one number costs 1."""
    assert charge(req("hello")) == 1


def test_segments_times_recipients() -> None:
    """A 3-segment SMS to a group of 4 costs 12."""
    text = "a" * 400  # GSM-7: 400 / 153 -> 3 segments
    group = [f"+1919555000{i}" for i in range(4)]
    assert charge(req(text, group)) == 12


def test_ucs2_text_costs_more() -> None:
    """A 100-character UCS-2 text is 2 segments."""
    assert charge(req("ç" * 100)) == 2


def test_mms_costs_one_per_recipient() -> None:
    """MMS counts one segment per recipient, whatever its text."""
    group = ["+19195550001", "+19195550002", "+19195550003"]
    assert charge(req("a" * 2000, group, media=["https://e.com/a.png"])) == 3


def test_default_burst_is_one_second() -> None:
    """Without a burst, one second's worth may go at once (at least 1)."""
    assert RateLimit(50).capacity == 50
    assert RateLimit(0.5).capacity == 1
    assert RateLimit(50, burst=5).capacity == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"segments_per_second": 0},
        {"segments_per_second": -1},
        {"segments_per_second": float("inf")},
        {"segments_per_second": 10, "burst": 0},
    ],
)
def test_invalid_limits_are_refused(kwargs: dict[str, float]) -> None:
    """A rate or burst that is not a positive number is refused, naming it."""
    with pytest.raises(ValueError, match="RateLimit"):
        RateLimit(**kwargs)  # type: ignore[arg-type]


def test_bucket_allows_the_burst_then_paces() -> None:
    """A full bucket lets `burst` go at once; the next waits its share of the rate."""
    bucket = _Bucket(rate=10.0, capacity=5.0, now=0.0)
    assert [bucket.reserve(1, 0.0) for _ in range(5)] == [0.0] * 5
    assert bucket.reserve(1, 0.0) == pytest.approx(0.1)
    assert bucket.reserve(1, 0.0) == pytest.approx(0.2)


def test_bucket_refills_at_the_rate_up_to_capacity() -> None:
    """Tokens come back at the rate and never beyond the burst."""
    bucket = _Bucket(rate=10.0, capacity=5.0, now=0.0)
    bucket.reserve(5, 0.0)
    assert bucket.reserve(3, 0.3) == 0.0  # 3 tokens refilled in 0.3 s
    assert bucket.reserve(5, 100.0) == 0.0  # capped at 5 after a long pause
    assert bucket.reserve(1, 100.0) == pytest.approx(0.1)


def test_bucket_charge_larger_than_burst_waits_off_its_debt() -> None:
    """A request costing more than the burst goes after waiting off the excess."""
    bucket = _Bucket(rate=10.0, capacity=5.0, now=0.0)
    assert bucket.reserve(12, 0.0) == pytest.approx(0.7)


def test_bucket_refund() -> None:
    """A refunded reservation gives its tokens back."""
    bucket = _Bucket(rate=10.0, capacity=5.0, now=0.0)
    bucket.reserve(5, 0.0)
    bucket.refund(5)
    assert bucket.reserve(5, 0.0) == 0.0


def test_long_run_never_exceeds_rate_plus_burst() -> None:
    """Over any reservation sequence, what is released by time t is at most burst + rate*t."""
    bucket = _Bucket(rate=20.0, capacity=10.0, now=0.0)
    released = 0.0
    for i in range(1000):
        cost = 1 + i % 4
        at = bucket.reserve(cost, 0.0)  # all asked for at t=0, each told when it may go
        released += cost
        assert released <= 10.0 + 20.0 * at + 1e-9


def test_global_lane_is_shared() -> None:
    """Without per_sender, every from number draws on one bucket."""
    throttle = Throttle(RateLimit(10, burst=2))
    assert throttle._bucket(None, 0.0) is throttle._bucket(None, 0.0)
    assert len(throttle._buckets) == 1


async def test_per_sender_lanes_are_separate() -> None:
    """With per_sender, a busy number does not use up another number's burst."""
    throttle = Throttle(RateLimit(1, burst=3, per_sender=True))
    busy = req(from_="+19195550001")
    quiet = req(from_="+19195550002")
    for _ in range(3):
        await throttle.acquire(busy)  # the busy lane's burst: no wait
    # Sharing the busy lane would mean a one-second wait here, and a TimeoutError.
    await asyncio.wait_for(throttle.acquire(quiet), timeout=0.5)
    assert set(throttle._buckets) == {"+19195550001", "+19195550002"}


# -- RateLimit(redis_url=..., name=...): what is checked when it is made ---------------------


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:6379",  # no scheme
        "http://127.0.0.1:6379/0",
        "redis://",  # no host
        "redis://127.0.0.1:port/0",
        "redis://127.0.0.1:99999/0",
        "redis://127.0.0.1:6379/zero",
        "unix://",
        "",
    ],
)
def test_a_redis_url_that_is_not_one_is_refused_showing_the_form(url: str) -> None:
    """A redis_url that is not redis://, rediss:// or unix:// is a ValueError naming it and
    showing the form."""
    with pytest.raises(ValueError, match=r"RateLimit\.redis_url must be redis://") as info:
        RateLimit(10, redis_url=url)
    assert "unix://" in str(info.value)


def test_a_redis_url_that_is_not_a_string_is_refused() -> None:
    """A redis_url of another type is a ValueError naming it."""
    with pytest.raises(ValueError, match=r"RateLimit\.redis_url must be a string"):
        RateLimit(10, redis_url=b"redis://h")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://localhost",
        "rediss://user:pw@redis.example:6380/2",
        "redis://[::1]:6379",
        "unix:///run/redis/redis.sock?db=1",
    ],
)
def test_redis_urls_are_taken(url: str) -> None:
    """redis://, rediss:// and unix:// URLs, with or without credentials, are taken."""
    assert RateLimit(10, redis_url=url).redis_url == url


def test_a_refused_url_never_shows_its_password() -> None:
    """The error for a bad URL shows it with the password hidden."""
    with pytest.raises(ValueError, match=r"RateLimit\.redis_url") as info:
        RateLimit(10, redis_url="redis://user:hunter2@127.0.0.1:port/0")
    assert "hunter2" not in str(info.value)
    assert "user:***@" in str(info.value)


@pytest.mark.parametrize("name", ["", "a b", "x" * 129, "a{b}", "é", 7])
def test_a_name_that_cannot_name_a_budget_is_refused(name: object) -> None:
    """A name that is empty, too long or has characters other than letters, digits, . _ : -
    is a ValueError naming it."""
    with pytest.raises(ValueError, match=r"RateLimit\.name must be"):
        RateLimit(10, redis_url="redis://127.0.0.1", name=name)  # type: ignore[arg-type]


def test_a_name_without_a_redis_url_is_refused() -> None:
    """A name only means something for a budget shared through Redis."""
    with pytest.raises(ValueError, match=r"RateLimit\.name .*redis_url"):
        RateLimit(10, name="campaign-7")


def test_the_repr_never_shows_the_password() -> None:
    """repr hides a password given in the user part or in the query, and keeps the rest."""
    limit = RateLimit(300, redis_url="redis://app:s3cr3t-pw@10.0.0.5:6379/0", name="acct")
    assert "s3cr3t-pw" not in repr(limit)
    assert "redis://app:***@10.0.0.5:6379/0" in repr(limit)
    by_query = RateLimit(3, redis_url="unix:///run/redis.sock?db=2&password=s3cr3t-pw")
    assert "s3cr3t-pw" not in repr(by_query)
    assert "db=2" in repr(by_query)
    assert "redis_url=None" in repr(RateLimit(3))


def test_without_redis_py_a_redis_url_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A redis_url without redis-py installed is a ValueError naming the extra."""
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ValueError, match=re.escape("pip install 'bwmsg[redis]'")):
        RateLimit(10, redis_url="redis://127.0.0.1:6379/0")
    assert RateLimit(10).redis_url is None  # the local limit needs nothing


def test_a_local_limit_opens_a_local_gate_and_a_redis_one_a_shared_gate() -> None:
    """open_gate shares through Redis only with a redis_url, under the name or the account id."""
    assert isinstance(open_gate(RateLimit(10), "acct"), LocalGate)
    assert isinstance(open_gate(None, "acct"), LocalGate)
    shared = open_gate(RateLimit(10, redis_url="redis://127.0.0.1"), "acct-1")
    assert isinstance(shared, SharedGate)
    assert shared.budget.key(None) == "bwmsg:{acct-1}:rate"
    named = open_gate(RateLimit(10, redis_url="redis://127.0.0.1", name="fleet"), "acct-1")
    assert isinstance(named, SharedGate)
    assert named.budget.pause_key == "bwmsg:{fleet}:pause"
    assert named.budget.key("+19195550000") == "bwmsg:{fleet}:rate:+19195550000"
