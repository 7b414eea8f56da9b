"""Recipient files as people make them: `;` and tab delimiters, `To`/`Name` headers in any
case, national numbers (--default-country) and typographic punctuation (--smart-encoding)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bwmsg.campaign import RenderError, Template, dry_run, preflight, read_rows
from bwmsg.campaign._input import read_recipients
from bwmsg.simulator import Simulator
from tests.cli_helpers import bwmsg_run, campaign_run_args, env_for, journal_rows


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_the_headers(tmp_path: Path, delimiter: str) -> None:
    """The same rows whatever the delimiter; a delimiter inside quotes is text."""
    d = delimiter
    body = f'to{d}name{d}note\r\n+19195550001{d}Ann{d}"a, b; c\td"\r\n+19195550002{d}Bo{d}x\r\n'
    recipients = write(tmp_path / "r.csv", body)
    rows = [columns for _, columns in read_rows(recipients)]
    assert rows == [
        {"to": "+19195550001", "name": "Ann", "note": "a, b; c\td"},
        {"to": "+19195550002", "name": "Bo", "note": "x"},
    ]
    assert list(read_recipients(recipients)) == [(1, "+19195550001"), (2, "+19195550002")]


def test_a_one_column_file_and_a_bom_still_read(tmp_path: Path) -> None:
    recipients = tmp_path / "r.csv"
    recipients.write_bytes(b"\xef\xbb\xbfto\n+19195550001\n")
    assert [c for _, c in read_rows(recipients)] == [{"to": "+19195550001"}]


def test_to_and_from_are_found_in_any_case_and_placeholders_fill_from_any_case(
    tmp_path: Path,
) -> None:
    recipients = write(tmp_path / "r.csv", " To ;FROM;Name\n+19195550001;+19195550009;Ann\n")
    template = Template(text="Hi {name}, from {NAME}")
    preflight(recipients, template)  # {name} is the Name column; `from` is there
    [(_, columns)] = list(read_rows(recipients))
    assert isinstance(columns, dict)
    request = template.render(columns)
    assert (request.to, request.from_, request.text) == (
        ("+19195550001",),
        "+19195550009",
        "Hi Ann, from Ann",
    )


def test_an_exact_name_wins_over_another_case(tmp_path: Path) -> None:
    recipients = write(tmp_path / "r.csv", "to,To,name,Name\n+19195550001,x,low,High\n")
    [(_, columns)] = list(read_rows(recipients))
    assert isinstance(columns, dict)
    assert Template(text="{name} {Name}", from_="+19195550000").render(columns).text == "low High"


def test_a_missing_column_is_still_named(tmp_path: Path) -> None:
    recipients = write(tmp_path / "r.csv", "to\n+19195550001\n")
    with pytest.raises(RenderError, match="no 'name' column"):
        Template(text="Hi {name}", from_="+19195550000").render({"to": "+19195550001"})
    with pytest.raises(ValueError, match="name"):
        preflight(recipients, Template(text="Hi {name}", from_="+19195550000"))


def test_national_numbers_become_e164_with_a_default_country() -> None:
    template = Template(text="hi", from_="+19195550000", default_country="us")
    assert template.default_country == "US"
    request = template.render({"to": "919-555-0499; (919) 555-0500;+442079460018"})
    assert request.to == ("+19195550499", "+19195550500", "+442079460018")


def test_a_national_number_without_a_default_country_is_refused_with_the_hint() -> None:
    template = Template(text="hi", from_="+19195550000")
    with pytest.raises(RenderError, match="--default-country"):
        template.render({"to": "919-555-0499"})


def test_a_number_invalid_in_the_country_stays_and_is_refused() -> None:
    template = Template(text="hi", from_="+19195550000", default_country="US")
    with pytest.raises(RenderError, match=r"E\.164") as caught:
        template.render({"to": "12"})
    assert "--default-country" not in str(caught.value)


@pytest.mark.parametrize("bad", ["XX", "USA", "", "1"])
def test_an_unknown_country_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="region code"):
        Template(text="hi", default_country=bad)


def test_smart_encoding_keeps_a_pasted_text_in_gsm7(tmp_path: Path) -> None:
    """A 100-character text with one curly quote is 2 UCS-2 segments, 1 GSM-7 segment with
    --smart-encoding; the dry run says how many segments that saves."""
    text = "It\u2019s on \u2014 doors at 7\u2026 " + "x" * 75
    recipients = write(tmp_path / "r.csv", "to\n+19195550001\n+19195550002\n")
    plain = dry_run(recipients, Template(text=text, from_="+19195550000"))
    smart = dry_run(recipients, Template(text=text, from_="+19195550000", smart_encoding=True))
    assert plain.segments == {"UCS-2": 4}
    assert smart.segments == {"GSM-7": 2}
    assert smart.segments_saved == 2
    assert smart.sample is not None
    assert smart.sample.text == "It's on - doors at 7... " + "x" * 75


def test_the_dry_run_counts_converted_numbers(tmp_path: Path) -> None:
    recipients = write(tmp_path / "r.csv", "to\n919-555-0499\n+19195550500\n")
    report = dry_run(recipients, Template(text="hi", from_="+19195550000", default_country="US"))
    assert (report.messages, report.converted_numbers) == (2, 1)


def test_new_options_left_out_keep_the_fingerprint() -> None:
    """A journal made before these options existed still matches the same command."""
    assert "smart_encoding" not in Template(text="hi").settings()
    assert "default_country" not in Template(text="hi").settings()
    assert Template(text="hi", smart_encoding=True).settings()["smart_encoding"] is True


async def test_a_semicolon_file_with_national_numbers_is_sent_in_e164(tmp_path: Path) -> None:
    recipients = write(tmp_path / "r.csv", "To;Name\n919-555-0499;Ann\n(919) 555-0500;Bo\n")
    journal = tmp_path / "j.db"
    async with Simulator() as sim:
        args = campaign_run_args(
            recipients,
            journal,
            "--default-country",
            "US",
            "--smart-encoding",
            text="Hi {name} \u2014 see you",
        )
        code, output = await bwmsg_run(env_for(sim), *args)
        sent = sorted((m.to[0], m.request["text"]) for m in sim.accepted)
    assert code == 0, output
    assert sent == [("+19195550499", "Hi Ann - see you"), ("+19195550500", "Hi Bo - see you")]
    assert {r["state"] for r in journal_rows(journal).values()} == {"sent"}


async def test_an_unknown_country_is_a_usage_error_naming_the_flag(tmp_path: Path) -> None:
    recipients = write(tmp_path / "r.csv", "to\n919-555-0499\n")
    async with Simulator() as sim:
        code, output = await bwmsg_run(
            {**env_for(sim), "BWMSG_DEFAULT_COUNTRY": "ZZ"},
            *campaign_run_args(recipients, tmp_path / "j.db", text="hi"),
        )
        assert sim.accepted == []
    assert code == 2
    assert "--default-country" in output
    assert "Traceback" not in output
