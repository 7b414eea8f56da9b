"""`bwmsg campaign report JOURNAL -o report.html` as a subprocess, and the file it writes opened
in a real headless Chromium (tests/chromium.py): no console error, every chart drawn, no
request but the file itself, a screenshot in the test's temporary directory."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

import plotly.offline

from bwmsg.campaign import open_journal
from bwmsg.simulator import Faults
from tests.campaign.test_report_data import make_journal, make_pg_journal
from tests.chromium import Page, chromium
from tests.cli_helpers import bwmsg_run
from tests.postgres_server import PASSWORD, pg_server, pg_url  # noqa: F401 - fixtures

CHARTS = (
    "chart-sends",
    "chart-outcomes",
    "chart-retries",
    "chart-durations",
    "chart-receipts",
    "chart-receipt-codes",
)
# Per chart: its SVG layers, and its marks (bars, lines) with an area on the page.
DRAWN = """(() => [...document.querySelectorAll('.js-plotly-plot')].map(p => ({
  id: p.id,
  svg: p.querySelectorAll('.main-svg').length,
  width: p.getBoundingClientRect().width,
  marks: [...p.querySelectorAll('g.cartesianlayer g.trace path')].filter(e => {
    const b = e.getBBox(); return b.width > 0 && b.height > 0; }).length,
  notes: [...p.querySelectorAll('.annotation-text')].map(a => a.textContent),
})))()"""
URL = re.compile(r"https?://")
HOSTILE = '<img src=x onerror="document.title=1"><script>document.title=2</script>'


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BW_")}


async def report(journal: Path | str, output: Path, *extra: str) -> tuple[int, str]:
    return await bwmsg_run(env(), "campaign", "report", journal, "-o", output, *extra)


async def rows_carry_sending_at(journal: Path) -> bool:
    async with open_journal(journal, readonly=True) as db:
        async for row in db.rows():
            return "sending_at" in row.keys()  # noqa: SIM118 (a sqlite3.Row's `in` reads values)
    return False


def uri(path: Path) -> str:
    return path.resolve().as_uri()


async def open_report(page: Page, path: Path) -> dict[str, dict[str, Any]]:
    """Load ``path``; each chart's drawing, by its div id."""
    await page.open(uri(path))
    charts = await page.evaluate(DRAWN)
    return {chart["id"]: chart for chart in charts}


async def test_report_opens_offline_with_every_chart_drawn(tmp_path: Path) -> None:
    """A run with faults and receipts: the report loads with no error and no request, every
    chart is drawn with marks, and a screenshot of the whole page is written."""
    journal = await make_journal(tmp_path)
    output = tmp_path / "report.html"
    code, out = await report(journal, output)
    assert code == 0, out
    assert f"report written to {output}" in out
    timed = await rows_carry_sending_at(journal)
    async with chromium(tmp_path) as page:
        charts = await open_report(page, output)
        await page.screenshot(tmp_path / "report.png")
        title = await page.evaluate("document.title")
    assert page.errors == []
    assert page.requests == [uri(output)]  # nothing else was fetched
    assert tuple(charts) == CHARTS
    for name, chart in charts.items():
        assert chart["svg"] > 0, name
        assert chart["width"] > 600, name
        if name == "chart-durations" and not timed:
            # The journal's rows() does not return sending_at yet: the chart says so.
            assert chart["notes"] == [
                "this journal's rows do not say when they were taken (sending_at)"
            ]
            continue
        assert chart["marks"] > 0, f"{name} has nothing drawn"
        assert chart["notes"] == [], name
    assert title.startswith("Campaign ")
    shot = (tmp_path / "report.png").read_bytes()
    assert shot.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(shot) > 50_000


async def test_durations_chart_when_rows_are_timed(tmp_path: Path) -> None:
    """With rows that say when they were taken (the journal's rows() gives sending_at), the
    send duration chart is drawn too."""
    journal = await make_journal(tmp_path)
    output = tmp_path / "report.html"
    code, out = await report(journal, output)
    assert code == 0, out
    async with chromium(tmp_path) as page:
        charts = await open_report(page, output)
        await page.screenshot(tmp_path / "report.png")
    assert page.errors == []
    for name, chart in charts.items():
        assert chart["marks"] > 0, f"{name} has nothing drawn"
        assert chart["notes"] == [], name
    assert "send duration p99" in output.read_text(encoding="utf-8")


async def test_no_url_outside_plotly_js(tmp_path: Path) -> None:
    """The file's one script with URLs is plotly.js as plotly ships it (map tiles and such it
    never loads here); the rest of the file names no http:// or https:// address at all."""
    journal = await make_journal(tmp_path, 50)
    output = tmp_path / "report.html"
    code, out = await report(journal, output)
    assert code == 0, out
    text = output.read_text(encoding="utf-8")
    bundle = plotly.offline.get_plotlyjs()
    assert text.count(bundle) == 1  # inlined once
    rest = text.replace(bundle, "")
    assert not URL.search(rest), URL.search(rest)
    assert "<script src" not in rest
    assert "<link" not in rest
    assert "@import" not in rest
    assert "url(" not in rest


async def test_journal_texts_are_escaped(tmp_path: Path) -> None:
    """Error texts and the input's name from the journal are shown as text, never run."""
    journal = await make_journal(tmp_path, 50)
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE rows SET error = ? WHERE state IN ('failed', 'unknown')", (HOSTILE,))
        db.execute("UPDATE meta SET value = ? WHERE key = 'input'", (HOSTILE,))
    output = tmp_path / "report.html"
    code, out = await report(journal, output)
    assert code == 0, out
    text = output.read_text(encoding="utf-8")
    assert HOSTILE not in text
    assert "&lt;img src=x onerror=&quot;document.title=1&quot;&gt;" in text
    async with chromium(tmp_path) as page:
        await page.open(uri(output))
        title = await page.evaluate("document.title")
        images = await page.evaluate("document.images.length")
        shown = await page.evaluate("document.body.innerText")
    assert title.startswith("Campaign ")  # neither handler ran
    assert images == 0
    assert HOSTILE in shown  # the text itself, as it was
    assert page.errors == []


async def test_no_row_sent_still_gives_a_report(tmp_path: Path) -> None:
    """Every send failed (5xx): the report opens with no error, every chart drawn, the empty
    ones saying why, and the summary showing 0 sent."""
    journal = await make_journal(tmp_path, 20, faults=Faults(server_error=1.0))
    output = tmp_path / "report.html"
    code, out = await report(journal, output)
    assert code == 0, out
    async with chromium(tmp_path) as page:
        charts = await open_report(page, output)
        shown = await page.evaluate("document.body.innerText")
        await page.screenshot(tmp_path / "report.png")
    assert page.errors == []
    assert tuple(charts) == CHARTS
    assert all(chart["svg"] > 0 for chart in charts.values())
    for name in ("chart-sends", "chart-outcomes", "chart-retries"):
        assert charts[name]["marks"] > 0, name
    assert charts["chart-receipts"]["notes"] == ["no delivery receipt was recorded"]
    assert charts["chart-receipt-codes"]["notes"] == ["no delivery failed"]
    assert re.search(r"rows sent\s+0\b", shown)


async def test_a_missing_journal_is_named(tmp_path: Path) -> None:
    """No such file: exit status 2, the path named, nothing written."""
    output = tmp_path / "report.html"
    code, out = await report(tmp_path / "nope.db", output)
    assert code == 2
    assert "no journal file" in out
    assert "nope.db" in out
    assert not output.exists()


async def test_not_a_journal(tmp_path: Path) -> None:
    """A file that is not a journal: exit status 3 (as status and export), saying so."""
    other = tmp_path / "other.db"
    other.write_text("hello")
    code, out = await report(other, tmp_path / "report.html")
    assert code == 3
    assert "not a bwmsg journal" in out


async def test_output_is_required_and_its_directory_must_exist(tmp_path: Path) -> None:
    """Without -o, or into a directory that does not exist: a usage error naming --output."""
    journal = await make_journal(tmp_path, 10)
    code, out = await bwmsg_run(env(), "campaign", "report", journal)
    assert code == 2
    assert "--output" in out
    code, out = await report(journal, tmp_path / "missing" / "report.html")
    assert code == 2
    assert "--output" in out
    assert "does not exist" in out


async def test_without_plotly_the_extra_is_named(tmp_path: Path) -> None:
    """plotly not importable: exit status 1 naming pip install 'bwmsg[report]', nothing
    written (and the journal not read)."""
    journal = await make_journal(tmp_path, 10)
    shadow = tmp_path / "shadow" / "plotly"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no plotly in this test')\n")
    environment = env()
    environment["PYTHONPATH"] = os.pathsep.join([str(shadow.parent), *sys.path])
    output = tmp_path / "report.html"
    code, out = await bwmsg_run(environment, "campaign", "report", journal, "-o", output)
    assert code == 1, out
    assert "pip install 'bwmsg[report]'" in out
    assert not output.exists()


async def test_a_postgresql_journal_by_campaign(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """--journal URL --campaign ID: the report of that campaign; an id that is not there is a
    usage error listing the ones there are; the URL's password is never printed."""
    campaign = await make_pg_journal(tmp_path, pg_url)
    output = tmp_path / "report.html"
    code, out = await report(pg_url, output, "--campaign", campaign)
    assert code == 0, out
    text = output.read_text(encoding="utf-8")
    assert f"<h1>Campaign {campaign}</h1>" in text
    assert re.search(r"rows suppressed</td><td class=\"n\">3<", text)
    code, out = await report(pg_url, tmp_path / "other.html", "--campaign", "nope")
    assert code == 2, out
    assert campaign in out
    assert PASSWORD not in out + text
