"""Property tests: every invalid form of every MessageRequest field is refused, by name, first."""

from __future__ import annotations

import re
import string
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bwmsg import MessageRequest, Priority, RequestValidationError, Sender
from bwmsg.simulator import Simulator

# JSON field name -> MessageRequest keyword.
KWARG = {
    "to": "to",
    "from": "from_",
    "text": "text",
    "media": "media",
    "tag": "tag",
    "priority": "priority",
    "expiration": "expiration",
    "applicationId": "application_id",
}
FIELDS = tuple(KWARG)

E164 = re.compile(r"\+[1-9][0-9]{0,14}")
SENDER_ID_CHARS = string.ascii_letters + string.digits + " -+_&"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _insert(parts: tuple[str, str, int]) -> str:
    """Put ``parts[1]`` into ``parts[0]`` at a position drawn as ``parts[2]``."""
    base, extra, where = parts
    where %= len(base) + 1
    return base[:where] + extra + base[where:]


def _place(parts: tuple[list[Any], Any, int]) -> list[Any]:
    """Put one item into a list at a drawn position."""
    items, item, where = parts
    items = list(items)
    items.insert(where % (len(items) + 1), item)
    return items


offsets = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60, 23 * 60)
)
not_str = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.binary(min_size=1, max_size=20),
    st.lists(st.text(max_size=5), min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=2),
)

# -- valid values ---------------------------------------------------------------------------------

e164 = st.from_regex(r"\+[1-9][0-9]{0,14}", fullmatch=True)
sender_ids = st.tuples(
    st.text(alphabet=SENDER_ID_CHARS, max_size=10),
    st.sampled_from(string.ascii_letters),
    st.integers(0, 10),
).map(_insert)
hosts = st.from_regex(r"[a-z0-9]{1,20}(\.[a-z]{2,6}){1,2}", fullmatch=True)
url_paths = st.text(alphabet=string.ascii_letters + string.digits + "-._~/%?=&", max_size=60)
media_urls = st.one_of(
    st.builds("{}://{}/{}".format, st.sampled_from(["http", "https", "HTTPS"]), hosts, url_paths),
    st.just("https://example.com/" + "a" * (4096 - len("https://example.com/"))),
)
future = st.builds(
    lambda delta, tz: (_now() + delta).astimezone(tz),
    st.timedeltas(min_value=timedelta(minutes=10), max_value=timedelta(days=3650)),
    offsets,
)

VALID: dict[str, st.SearchStrategy[Any]] = {
    "to": st.one_of(e164, st.lists(e164, min_size=1, max_size=10, unique=True).map(tuple)),
    "from": st.one_of(e164, sender_ids),
    "text": st.one_of(
        st.text(min_size=1, max_size=300),
        st.builds(lambda c: c * 2048, st.characters(codec="utf-8")),
    ),
    "media": st.lists(media_urls, max_size=3),
    "tag": st.one_of(st.none(), st.text(max_size=100), st.just("t" * 1024)),
    "priority": st.one_of(
        st.none(), st.sampled_from(["default", "high", "HIGH", "Default", *Priority])
    ),
    "expiration": st.one_of(
        st.none(),
        future,
        future.map(datetime.isoformat),
        future.map(lambda d: d.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
    ),
    "applicationId": st.one_of(
        st.none(), st.text(min_size=1, max_size=40).filter(lambda s: bool(s.strip()))
    ),
}

# -- invalid values -------------------------------------------------------------------------------

not_e164 = st.one_of(
    st.text(max_size=20).filter(lambda s: not E164.fullmatch(s)),
    st.from_regex(r"\+0[0-9]{0,14}", fullmatch=True),  # leading 0
    st.from_regex(r"\+[1-9][0-9]{15,25}", fullmatch=True),  # more than 15 digits
    st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True),  # no '+'
    st.sampled_from(["", "+", "+1 919 555 1212", "+1-919-555-1212", " +19195551212", "+１９１９"]),
)
INVALID: dict[str, st.SearchStrategy[Any]] = {
    "to": st.one_of(
        not_e164,  # a single bad number
        st.tuples(st.lists(e164, max_size=4, unique=True), not_e164, st.integers()).map(_place),
        st.sampled_from([[], (), None]),  # nobody
        st.lists(e164, min_size=11, max_size=25, unique=True),  # more than 10
        st.tuples(st.lists(e164, min_size=1, max_size=9, unique=True), st.integers()).map(
            lambda t: _place((t[0], t[0][t[1] % len(t[0])], t[1]))  # one number twice
        ),
        st.tuples(st.lists(e164, max_size=4, unique=True), not_str, st.integers()).map(_place),
        st.one_of(st.integers(), st.binary(min_size=1, max_size=16)),
    ),
    "from": st.one_of(
        st.sampled_from([None, "", "+", "+0", " "]),
        not_str,
        st.from_regex(r"\+0[0-9]{1,14}", fullmatch=True),
        st.from_regex(r"\+[1-9][0-9]{15,25}", fullmatch=True),
        # sender IDs: too long, no letter, a character outside the allowed set
        st.tuples(
            st.text(alphabet=SENDER_ID_CHARS, min_size=11, max_size=30),
            st.sampled_from(string.ascii_letters),
            st.integers(),
        ).map(_insert),
        st.text(alphabet=string.digits + " -+_&", min_size=1, max_size=11).filter(
            lambda s: not E164.fullmatch(s)
        ),
        st.tuples(
            sender_ids,
            st.characters(codec="utf-8").filter(lambda c: c not in SENDER_ID_CHARS),
            st.integers(),
        ).map(_insert),
    ),
    "text": st.one_of(
        st.builds(
            lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(2049, 5000)
        ),  # too long
        not_str,
    ),
    "media": st.one_of(
        st.tuples(
            st.lists(media_urls, max_size=2),
            st.one_of(
                st.builds(
                    "{}://{}/{}".format,
                    st.from_regex(r"[a-z][a-z0-9+.\-]{0,8}", fullmatch=True).filter(
                        lambda s: s not in ("http", "https")
                    ),
                    hosts,
                    url_paths,
                ),
                st.sampled_from(
                    [
                        "",
                        "example.com/cat.jpg",
                        "//example.com/cat.jpg",
                        "http:///cat.jpg",
                        "https://",
                        "http://[::1/cat.jpg",
                        "file:///etc/passwd",
                        "javascript:alert(1)",
                        "data:image/png;base64,iVBORw0KGgo=",
                        "ftp://example.com/cat.jpg",
                    ]
                ),
                st.builds(
                    lambda n: "https://example.com/" + "a" * n, st.integers(4077, 6000)
                ),  # over 4096 characters
                st.one_of(st.integers(), st.none(), st.binary(max_size=10), st.floats()),
            ),
            st.integers(),
        ).map(_place),
        st.integers(),  # not a sequence at all
    ),
    "tag": st.one_of(
        st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(1025, 3000)),
        not_str,
    ),
    "priority": st.one_of(
        st.text(max_size=12).filter(lambda s: s.lower() not in ("default", "high")),
        st.sampled_from(["urgent", "low", " high", "high ", "normal", ""]),
        st.integers(),
        st.booleans(),
    ),
    "expiration": st.one_of(
        # in the past (or now), aware
        st.builds(
            lambda delta, tz: (_now() - delta).astimezone(tz),
            st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)),
            offsets,
        ),
        st.builds(
            lambda delta: (_now() - delta).isoformat(),
            st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)),
        ),
        # naive
        st.datetimes(),
        # garbage
        st.sampled_from(
            [
                "",
                "tomorrow",
                "2099-01-01",
                "01/02/2099 10:00",
                "2099-13-01T00:00:00Z",
                "2099-02-30T00:00:00Z",
                "2099-01-01T25:00:00Z",
                "2099-01-01T00:00:00+24:00",
                "0000-01-01T00:00:00Z",
                "2099-01-01T00:00:00 PST",
            ]
        ),
        st.text(alphabet=string.ascii_letters + " :-/", max_size=20),
        st.integers(),
        st.floats(allow_nan=False),
        st.just(date(2099, 1, 1)),
    ),
    "applicationId": st.one_of(
        st.text(alphabet=" \t\r\n\u00a0\u2003", max_size=5),
        st.integers(),
        st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=2),
    ),
}


@st.composite
def invalid_requests(draw: st.DrawFn) -> tuple[dict[str, Any], set[str]]:
    """Keyword arguments with a drawn set of fields made invalid, and that set."""
    bad = draw(st.sets(st.sampled_from(FIELDS), min_size=1))
    kwargs = {KWARG[field]: draw(VALID[field]) for field in FIELDS}
    for field in sorted(bad):
        kwargs[KWARG[field]] = draw(INVALID[field], label=field)
    return kwargs, bad


@st.composite
def valid_requests(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments that make a valid MessageRequest (text, media or both)."""
    kwargs = {KWARG[field]: draw(VALID[field]) for field in FIELDS}
    if kwargs["media"] and draw(st.booleans()):
        kwargs["text"] = draw(st.sampled_from([None, ""]))  # media only
    return kwargs


def _named(error: RequestValidationError) -> set[str]:
    return {fe.field_name for fe in error.field_errors}


@pytest.mark.parametrize("field", FIELDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_each_invalid_field_alone_is_named(field: str, data: st.DataObject) -> None:
    """One invalid field among valid ones is refused, naming exactly that field."""
    kwargs = {KWARG[f]: data.draw(VALID[f], label=f) for f in FIELDS}
    kwargs[KWARG[field]] = data.draw(INVALID[field], label=f"invalid {field}")
    with pytest.raises(RequestValidationError) as caught:
        MessageRequest(**kwargs)
    assert isinstance(caught.value, ValueError)
    assert _named(caught.value) == {field}


@settings(max_examples=200, deadline=None)
@given(case=invalid_requests())
def test_any_invalid_fields_are_all_named(case: tuple[dict[str, Any], set[str]]) -> None:
    """Any set of invalid fields is refused at once, naming exactly those fields."""
    kwargs, bad = case
    with pytest.raises(RequestValidationError) as caught:
        MessageRequest(**kwargs)
    error = caught.value
    assert isinstance(error, ValueError)
    assert _named(error) == bad
    assert all(fe.description for fe in error.field_errors)
    message = str(error)
    assert all(f"{field}: " in message for field in bad)


@settings(max_examples=50, deadline=None)
@given(
    kwargs=st.fixed_dictionaries(
        {KWARG[f]: VALID[f] for f in FIELDS if f not in ("text", "media")}
    ),
    text=st.sampled_from([None, ""]),
    media=st.sampled_from([(), [], None]),
)
def test_no_text_and_no_media_names_text(
    kwargs: dict[str, Any], text: str | None, media: list[str] | None
) -> None:
    """Neither text (None or "") nor media is refused, naming text."""
    with pytest.raises(RequestValidationError) as caught:
        MessageRequest(text=text, media=media, **kwargs)
    assert _named(caught.value) == {"text"}


@settings(max_examples=200, deadline=None)
@given(kwargs=valid_requests())
def test_valid_values_build(kwargs: dict[str, Any]) -> None:
    """Valid values in every field build a request that keeps them."""
    request = MessageRequest(**kwargs)
    to = kwargs["to"]
    assert request.to == ((to,) if isinstance(to, str) else tuple(to))
    assert request.from_ == kwargs["from_"]
    assert request.media == tuple(kwargs["media"])
    assert request.text == (kwargs["text"] or None)


@settings(max_examples=30, deadline=None)
@given(
    url=st.tuples(
        st.just("https://example.com/cat.jpg"),
        st.sampled_from([" ", "\t", "\n", "\r", "\x00", "\x7f"]),
        st.integers(8, 27),  # inside the host or the path
    ).map(_insert)
)
def test_media_url_with_whitespace_or_control_is_refused(url: str) -> None:
    """A media URL with whitespace or a control character in it is refused, naming media."""
    with pytest.raises(RequestValidationError) as caught:
        MessageRequest(to="+19195551212", from_="+19195550000", media=[url])
    assert _named(caught.value) == {"media"}


# -- against a server -----------------------------------------------------------------------------


@pytest.fixture
async def simulated() -> AsyncIterator[tuple[Simulator, Sender]]:
    """A simulator and a Sender pointed at it, shared by every example of one test."""
    async with (
        Simulator() as sim,
        Sender(
            "9900000", sim.username, sim.password, application_id="app", base_url=sim.base_url
        ) as sender,
    ):
        yield sim, sender


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=invalid_requests())
async def test_invalid_requests_never_reach_the_server(
    simulated: tuple[Simulator, Sender], case: tuple[dict[str, Any], set[str]]
) -> None:
    """Building and sending an invalid request fails at construction: the server sees nothing."""
    sim, sender = simulated
    kwargs, _ = case
    with pytest.raises(RequestValidationError):
        await sender.send(MessageRequest(**kwargs))
    assert sim.accepted == []
    assert sum(sim.counts.values()) == 0


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kwargs=valid_requests())
async def test_valid_requests_are_accepted_by_the_server(
    simulated: tuple[Simulator, Sender], kwargs: dict[str, Any]
) -> None:
    """What the client lets through, the simulated service accepts as sent."""
    sim, sender = simulated
    before = len(sim.accepted)
    message = await sender.send(MessageRequest(**kwargs))
    assert len(sim.accepted) == before + 1
    assert message.id == sim.accepted[-1].id
