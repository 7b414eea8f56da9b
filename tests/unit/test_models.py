"""MessageRequest validation and the models' shapes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
import pytest

from bwmsg import (
    Message,
    MessageRequest,
    Outcome,
    Priority,
    RequestValidationError,
    SendResult,
)


def make(**overrides: object) -> MessageRequest:
    fields: dict[str, object] = {"to": "+19195551212", "from_": "+19195550000", "text": "hi"}
    fields.update(overrides)
    return MessageRequest(**fields)  # type: ignore[arg-type]


def problems(**overrides: object) -> list[tuple[str, str]]:
    with pytest.raises(RequestValidationError) as info:
        make(**overrides)
    return [(fe.field_name, fe.description) for fe in info.value.field_errors]


def fields_named(**overrides: object) -> list[str]:
    return [name for name, _ in problems(**overrides)]


def test_to_string_is_stored_as_tuple() -> None:
    """A single recipient string becomes a one-element tuple."""
    assert make().to == ("+19195551212",)


def test_to_sequence_is_stored_as_tuple() -> None:
    """A list of recipients becomes a tuple, order kept."""
    assert make(to=["+19195551212", "+19195551213"]).to == ("+19195551212", "+19195551213")


@pytest.mark.parametrize(
    "number",
    ["19195551212", "+0123", "+", "+1234567890123456", "+1 919 555", "+1-919", "tel:+1919", ""],
)
def test_to_rejects_non_e164(number: str) -> None:
    """Anything but '+' and 1 to 15 digits without a leading 0 is refused, naming `to`."""
    assert fields_named(to=number) == ["to"]


def test_to_accepts_fifteen_digits() -> None:
    """The longest E.164 number is accepted."""
    assert make(to="+123456789012345").to == ("+123456789012345",)


def test_to_empty_is_refused() -> None:
    """An empty recipient list is refused."""
    assert problems(to=[]) == [("to", "at least one recipient is required")]


def test_to_more_than_ten_is_refused() -> None:
    """A group of 11 is refused (Bandwidth error 4435)."""
    found = problems(to=[f"+1919555{i:04d}" for i in range(11)])
    assert [name for name, _ in found] == ["to"]
    assert "4435" in found[0][1]


def test_to_ten_is_accepted() -> None:
    """A group of exactly 10 is fine."""
    assert len(make(to=[f"+1919555{i:04d}" for i in range(10)]).to) == 10


def test_to_duplicates_are_refused() -> None:
    """The same number twice is refused."""
    found = problems(to=["+19195551212", "+19195551212"])
    assert found[0][0] == "to"
    assert "repeated" in found[0][1]


def test_to_non_string_item_is_refused() -> None:
    """A number given as an int is refused, not coerced."""
    assert fields_named(to=[19195551212]) == ["to"]


@pytest.mark.parametrize("sender", ["+19195550000", "Acme", "ACME Co", "a-b_c&d+e", "X1234567890"])
def test_from_accepts_numbers_and_sender_ids(sender: str) -> None:
    """E.164 numbers and alphanumeric sender IDs are accepted."""
    assert make(from_=sender).from_ == sender


@pytest.mark.parametrize(
    "sender", ["", "+0199", "12345", "ABCDEFGHIJKL", "Acme!", "Café", "   ", "+1 919"]
)
def test_from_rejects_bad_senders(sender: str) -> None:
    """Bad numbers, sender IDs over 11 characters, without a letter, or with others are refused."""
    assert fields_named(from_=sender) == ["from"]


def test_text_at_limit_is_accepted() -> None:
    """2048 characters of text are accepted."""
    assert make(text="x" * 2048).text is not None


def test_text_over_limit_is_refused() -> None:
    """2049 characters are refused, naming `text`."""
    assert fields_named(text="x" * 2049) == ["text"]


def test_text_or_media_required() -> None:
    """Neither text nor media is refused."""
    assert fields_named(text=None) == ["text"]


def test_empty_text_counts_as_absent() -> None:
    """An empty text without media is refused, and with media it is stored as None."""
    assert fields_named(text="") == ["text"]
    assert make(text="", media=["https://example.com/a.png"]).text is None


def test_media_only_is_accepted() -> None:
    """A picture without text is a valid MMS."""
    request = make(text=None, media="https://example.com/a.png")
    assert request.media == ("https://example.com/a.png",)
    assert request.is_mms


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.png", "example.com/a.png", "https://", "javascript:alert(1)"]
)
def test_media_rejects_non_http_urls(url: str) -> None:
    """Media URLs must be http(s) with a host."""
    assert fields_named(media=[url]) == ["media"]


def test_media_url_length_limit() -> None:
    """A media URL of 4097 characters is refused; 4096 is fine."""
    base = "https://example.com/"
    make(media=[base + "a" * (4096 - len(base))])
    assert fields_named(media=[base + "a" * (4097 - len(base))]) == ["media"]


def test_tag_length_limit() -> None:
    """A tag of 1025 characters is refused; 1024 is fine."""
    make(tag="t" * 1024)
    assert fields_named(tag="t" * 1025) == ["tag"]


def test_priority_strings_become_enum() -> None:
    """'high' and 'default' are stored as Priority."""
    assert make(priority="high").priority is Priority.HIGH
    assert make(priority=Priority.DEFAULT).priority is Priority.DEFAULT


def test_priority_unknown_is_refused() -> None:
    """An unknown priority is refused, naming `priority`."""
    assert fields_named(priority="urgent") == ["priority"]


def test_expiration_string_is_parsed() -> None:
    """An RFC-3339 string in the future becomes an aware datetime."""
    request = make(expiration="2999-03-14T01:59:26Z")
    assert request.expiration == datetime(2999, 3, 14, 1, 59, 26, tzinfo=timezone.utc)


def test_expiration_in_the_past_is_refused() -> None:
    """An expiration in the past is refused."""
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert fields_named(expiration=past) == ["expiration"]


def test_expiration_naive_is_refused() -> None:
    """A naive datetime is refused: its time zone would be a guess."""
    assert fields_named(expiration=datetime(2999, 1, 1)) == ["expiration"]


def test_expiration_garbage_is_refused() -> None:
    """A string that is not RFC-3339 is refused."""
    assert fields_named(expiration="tomorrow") == ["expiration"]


def test_empty_application_id_is_refused() -> None:
    """An empty application id is refused, by its JSON name."""
    assert fields_named(application_id=" ") == ["applicationId"]


def test_every_problem_is_reported_at_once() -> None:
    """All invalid fields are named together, in one error."""
    names = fields_named(
        to="bad", from_="!", text="x" * 3000, tag="t" * 2000, priority="?", expiration="no"
    )
    assert names == ["to", "from", "text", "tag", "priority", "expiration"]


def test_validation_error_is_a_value_error_with_readable_text() -> None:
    """RequestValidationError is a ValueError whose message lists each field."""
    with pytest.raises(ValueError, match=r"(?s)2 problems.*to: .*from: "):
        make(to="bad", from_="!")


def test_request_is_frozen() -> None:
    """A MessageRequest cannot be changed after construction."""
    request = make()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.text = "changed"  # type: ignore[misc]


def test_send_result_ok() -> None:
    """SendResult.ok is true only when SENT."""
    request = make()
    assert SendResult(index=0, request=request, outcome=Outcome.SENT, message=Message()).ok
    assert not SendResult(index=0, request=request, outcome=Outcome.UNKNOWN).ok
    assert not SendResult(index=0, request=request, outcome=Outcome.FAILED).ok
