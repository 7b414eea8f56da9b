"""The account id: letters, digits, '-' and '_' (1 to 64), so it can never change the path."""

from __future__ import annotations

from typing import Any

import pytest

from bwmsg import MessageRequest, Sender
from tests.servers import Scripted

BAD = [
    "../../../admin",
    "..",
    "a/b",
    "acct 1",
    "",
    " ",
    "acct\n",
    "acct?x=1",
    "acct#x",
    "acct%2F..",
    "a" * 65,
    "äcct",
    "١٢٣",  # Arabic-Indic digits: digits, but not ASCII ones
]


@pytest.mark.parametrize("account_id", BAD)
def test_bad_account_id_is_refused_at_construction(account_id: str) -> None:
    """Anything but [A-Za-z0-9_-]{1,64} is a ValueError naming account_id and the rule."""
    with pytest.raises(ValueError, match=r"account_id must be .*letters, digits, '-' and '_'"):
        Sender(account_id, "u", "p")


@pytest.mark.parametrize("account_id", [None, 9900000, b"acct"])
def test_account_id_must_be_a_string(account_id: Any) -> None:
    """A non-string account id is refused the same way."""
    with pytest.raises(ValueError, match="account_id must be"):
        Sender(account_id, "u", "p")


@pytest.mark.parametrize("account_id", ["9900000", "acct", "a", "A-b_9", "x" * 64])
def test_good_account_ids(account_id: str) -> None:
    """Ordinary account ids, up to 64 characters, are taken as they are."""
    assert Sender(account_id, "u", "p").account_id == account_id


def test_long_bad_account_id_is_shown_cut_short() -> None:
    """The error shows the value, but not an unbounded one."""
    with pytest.raises(ValueError, match="1 to 64 characters") as info:
        Sender("/" * 10_000, "u", "p")
    assert len(str(info.value)) < 300


def test_from_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """BW_ACCOUNT_ID that breaks the rule: the error names BW_ACCOUNT_ID."""
    monkeypatch.setenv("BW_ACCOUNT_ID", "../../../admin")
    monkeypatch.setenv("BW_USERNAME", "u")
    monkeypatch.setenv("BW_PASSWORD", "p")
    with pytest.raises(ValueError, match=r"^BW_ACCOUNT_ID must be .*'\.\./\.\./\.\./admin'"):
        Sender.from_env()
    with pytest.raises(ValueError, match=r"^account_id must be"):
        Sender.from_env(account_id="a/b")
    assert Sender.from_env(account_id="good").account_id == "good"


async def test_account_id_is_the_path_segment(server: Scripted) -> None:
    """A valid account id lands in the path posted to, as given."""
    async with Sender("acct-9_X", "u", "p", application_id="app", base_url=server.base_url) as s:
        await s.send(MessageRequest(to="+19195551212", from_="+19195550000", text="hi"))
    assert [r.path for r in server.requests] == ["/api/v2/users/acct-9_X/messages"]
