"""The SQLite journal's writes and counts: a row sent is written by its own statement, with
the same result as the general update; rows the journal never loaded are inserted, not lost;
duplicates are counted as they are listed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bwmsg.campaign import Journal, RowState, RowUpdate
from bwmsg.campaign._journal import sent_update

SENT_ROW = ("m-2", 1, 1001.0, "+19195550000", 2, "GSM-7", 1000.0, 2)


def _row(db: Journal, row: int) -> dict[str, object]:
    (found,) = [dict(r) for r in db.rows() if r["row"] == row]
    return found


def test_a_sent_row_is_written_as_a_row_update_would_be(tmp_path: Path) -> None:
    """Two journals, one given the row as ``sent`` (its own UPDATE), one as the RowUpdate it
    stands for (the general upsert): the rows they hold are the same (but for the time
    written), and what the row holds is what the tuple said."""
    written: list[list[dict[str, object]]] = []
    for name, how in (("tuple", "sent"), ("update", "updates")):
        with Journal(tmp_path / f"{name}.db", exclusive=True) as db:
            db.bind("f" * 64, campaign="abc")
            db.add_rows([(1, "+19190000001"), (2, "+19190000002"), (3, "+19190000003")])
            db.start_run()
            db.record([], claim=(1, 3))
            db.record([RowUpdate(1, RowState.FAILED, error="no", retryable=True, attempts=1)])
            if how == "sent":
                db.record([], sent=[SENT_ROW])
            else:
                db.record([sent_update(SENT_ROW)])
            found = [_row(db, n) for n in (1, 2, 3)]
        for one in found:
            one.pop("updated")
        written.append(found)
    assert written[0] == written[1]
    sent = written[0][1]
    assert (sent["state"], sent["message_id"], sent["attempts"], sent["sending_at"]) == (
        "sent",
        "m-2",
        1,
        1000.0,
    )
    assert (sent["sender"], sent["segments"], sent["encoding"]) == ("+19195550000", 2, "GSM-7")
    assert written[0][2]["state"] == "sending"  # still claimed, no outcome yet


def test_a_sent_row_the_journal_never_loaded_is_inserted(tmp_path: Path) -> None:
    """The statement for sent rows updates rows already there; one that is not (a journal
    whose rows were never loaded) is inserted, beside the ones that were updated."""
    with Journal(tmp_path / "j.db", exclusive=True) as db:
        db.bind("f" * 64, campaign="abc")
        db.add_rows([(1, "+19190000001")])
        db.start_run()
        db.record([], sent=[("m-1", 1, 6.0, "+1", 1, "GSM-7", 5.0, 1), SENT_ROW])
        assert db.counts()["sent"] == 2
        assert _row(db, 2)["message_id"] == "m-2"
        assert _row(db, 1)["message_id"] == "m-1"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["", "+1", "+2", "+1;+2", "+3"]), max_size=30))
def test_duplicates_count_every_row_after_the_first_of_its_recipients(
    recipients: list[str],
) -> None:
    """The count (rows less distinct recipients) is the number of (row, first row) pairs the
    list gives, and a row without recipients is nobody's duplicate."""
    with tempfile.TemporaryDirectory() as tmp, Journal(Path(tmp) / "j.db") as db:
        db.add_rows(list(enumerate(recipients, start=1)))
        count, pairs = db.duplicates(limit=len(recipients) + 1)
        assert db.duplicates(limit=0) == (count, [])
    firsts: dict[str, int] = {}
    expected = []
    for row, key in enumerate(recipients, start=1):
        if key and key in firsts:
            expected.append((row, firsts[key]))
        firsts.setdefault(key, row)
    assert (count, pairs) == (len(expected), expected)
