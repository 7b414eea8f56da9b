"""The PostgreSQL campaign journal: several workers, on any machines, send one campaign.

Each row's rendered request (its JSON body) is stored at load. A worker registers itself
(``bwmsg_workers``: id, host, pid, a lease ending at the database's ``now()`` plus ``lease``
seconds) and renews its lease every third of that while it runs. It claims batches of rows
with ``SELECT ... FOR UPDATE SKIP LOCKED`` (``claimed_by`` = its id: no other worker can take
them), marks a few ``sending`` just before they go (the same bound as SQLite's: 2 × concurrency
+ 10), and writes their outcomes; each of these is one transaction. Marking and claiming hold
a share lock on the worker's own lease row and check it has not run out, so a settler (which
needs that row's exclusive lock) and a worker never both act on the same rows. A worker whose
lease ran out is settled by the next one that claims: its ``sending`` rows become ``unknown``,
those it claimed but never sent go back to ``pending``. A stale ``sending`` row is never sent
again (pgqueuer would re-pick it; bwmsg must not).

asyncpg is imported only here, and only when a journal URL is opened (extra
``bwmsg[postgres]``). The URL's password never appears in a message: see :func:`redacted`.

Over 500 lines: one class implementing the whole :class:`CampaignJournal` interface; its longer
statements are in :mod:`._pg_sql`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from ..callbacks import CallbackEvent, StatusCallback, StatusType, describe_error
from . import _pg_sql as sql
from ._journal import (
    SAFE_TO_RESEND,
    CampaignJournal,
    Claimed,
    ClaimRules,
    JournalMismatch,
    LeaseLost,
    LoadedRow,
    Marking,
    ReceiptResult,
    RowState,
    RowUpdate,
    Sent,
    UnknownCampaign,
    sent_update,
)
from ._urls import (
    JournalUrlError,
    database_address,
    redacted,
    unusable_database,
    without_password,
)

__all__ = ["PostgresJournal"]

logger = logging.getLogger("bwmsg.campaign")

_ROW_COLUMNS = (
    "row, recipients, sender, state, retryable::int AS retryable, message_id, error, status, "
    "attempts, segments, encoding, updated, receipt, receipt_code, receipt_description, "
    "receipt_time, sending_at"
)


def _asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError:
        raise JournalUrlError(
            "a PostgreSQL journal needs asyncpg: pip install 'bwmsg[postgres]'"
        ) from None
    return asyncpg


class PostgresJournal(CampaignJournal):
    """A campaign journal in PostgreSQL (``postgresql://user:pass@host:port/dbname``).

    Args:
        url: the database's URL (a password may also come from ``PGPASSWORD`` or ``.pgpass``).
        lease: seconds a worker's claims last unless renewed.
        readonly: only read (``status``, ``export``): the schema is not created.
    """

    shared = True
    stores_messages = True

    def __init__(self, url: str, *, lease: float = 30.0, readonly: bool = False) -> None:
        self.url = url
        self.where = redacted(url)
        self.lease = lease
        self.readonly = readonly
        self.worker: str | None = None
        self.started: float | None = None
        self.pool: Any = None
        self.renewer: asyncio.Task[None] | None = None
        self.lost = False
        # One write at a time, in the order they were asked for: the runner counts on each
        # commit that marks rows `sending` coming after every outcome it was given before (so
        # that a kill leaves at most its bound `sending`); a flush still in its transaction
        # when a mark commits would leave its rows `sending` beside the new ones.
        self.writing = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<PostgresJournal {self.where} campaign={self.campaign_id}>"

    async def __aenter__(self) -> PostgresJournal:
        asyncpg = _asyncpg()
        try:
            self.pool = await asyncpg.create_pool(self.url, min_size=1, max_size=3)
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
            address = database_address(self.url, self.where)
            raise JournalUrlError(
                f"--journal {self.where}: cannot use the database at {address} "
                + unusable_database(exc, self.url)
            ) from None
        except ValueError as exc:  # a URL asyncpg cannot read
            why = without_password(str(exc), self.url)
            raise JournalUrlError(
                f"--journal {self.where}: not a usable PostgreSQL URL ({why}); expected "
                "postgresql://user:pass@host:port/dbname"
            ) from None
        if not self.readonly:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('bwmsg-schema'))")
                await conn.execute(sql.SCHEMA)
        return self

    async def close(self) -> None:
        await self._stop_renewing()
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    # -- identity and loading ---------------------------------------------------------------

    async def _campaigns(self) -> list[Any]:
        async with self.pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass('bwmsg_campaigns')") is None:
                return []
            return list(
                await conn.fetch("SELECT id, meta FROM bwmsg_campaigns ORDER BY created, id")
            )

    async def use_campaign(self, campaign: str | None) -> None:
        found = await self._campaigns()
        ids = [r["id"] for r in found]
        if campaign is not None and campaign in ids:
            self.campaign_id = campaign
            return
        if campaign is None and len(ids) == 1:
            self.campaign_id = ids[0]
            return
        if not ids:
            raise UnknownCampaign(
                f"no campaign in the journal {self.where} yet: start one with bwmsg campaign run "
                "FILE --journal URL ..."
            )
        listed = "; ".join(
            f"{r['id']} ({json.loads(r['meta']).get('input', '?')})" for r in found[:20]
        )
        if campaign is None:
            raise UnknownCampaign(
                f"the journal {self.where} holds {len(ids)} campaigns: give --campaign ID, "
                f"one of: {listed}"
            )
        raise UnknownCampaign(
            f"--campaign {campaign}: no such campaign in the journal {self.where}; there are: "
            f"{listed}"
        )

    async def meta(self) -> dict[str, str]:
        async with self.pool.acquire() as conn:
            found = await conn.fetchrow(
                "SELECT fingerprint, meta FROM bwmsg_campaigns WHERE id = $1", self.campaign_id
            )
        if found is None:
            return {}
        return {
            **json.loads(found["meta"]),
            "fingerprint": found["fingerprint"],
            "campaign": self.campaign_id or "",
        }

    async def bind(self, fingerprint: str, **info: str) -> bool:
        campaign = info.get("campaign") or fingerprint[:12]
        async with self.pool.acquire() as conn:
            made = await conn.fetchval(
                "INSERT INTO bwmsg_campaigns (id, fingerprint, meta) VALUES ($1, $2, $3) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                campaign,
                fingerprint,
                json.dumps({k: v for k, v in info.items() if k != "campaign"}),
            )
            if made is None:
                have = await conn.fetchval(
                    "SELECT fingerprint FROM bwmsg_campaigns WHERE id = $1", campaign
                )
                if have != fingerprint:
                    raise JournalMismatch(
                        f"the campaign {campaign} in {self.where} was made for another input "
                        "or template"
                    )
        self.campaign_id = campaign
        return made is not None

    async def add_rows(self, rows: Iterable[LoadedRow]) -> int:
        count = 0

        def records() -> Iterable[tuple[Any, ...]]:
            nonlocal count
            for r in rows:
                count += 1
                state = "failed" if r.error is not None else "pending"
                body = json.dumps(r.request) if r.request is not None else None
                yield (self.campaign_id, r.row, r.recipients, body, state, r.error)

        async with self.pool.acquire() as conn, conn.transaction():
            # Two runs loading the same campaign at once: the second finds the rows there.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('bwmsg-load:' || $1))", self.campaign_id
            )
            have = await conn.fetchval(
                "SELECT COUNT(*) FROM bwmsg_rows WHERE campaign = $1", self.campaign_id
            )
            if have:
                count = int(have)
            else:
                await conn.copy_records_to_table(
                    "bwmsg_rows",
                    records=records(),
                    columns=["campaign", "row", "recipients", "request", "state", "error"],
                )
            await conn.execute(
                "UPDATE bwmsg_campaigns SET meta = meta || jsonb_build_object('rows', $2::text)"
                " WHERE id = $1",
                self.campaign_id,
                str(count),
            )
            if not have:
                # Statistics for the new rows, so that the claims' plans use the indexes.
                await conn.execute("ANALYZE bwmsg_rows")
        return count

    # Each row with the first row of its recipients, by a window (a sort), never a join: right
    # after a load the planner has no statistics on the new rows and would pick a nested loop,
    # quadratic in the rows (20,000 rows took 78 s before the first claim).
    _FIRSTS = (
        "WITH firsts AS (SELECT row, MIN(row) OVER (PARTITION BY recipients) AS first "
        "FROM bwmsg_rows WHERE campaign = $1 AND recipients <> ''), "
        "dupes AS (SELECT row, first FROM firsts WHERE row <> first) "
    )

    async def duplicates(self, limit: int = 20) -> tuple[int, list[tuple[int, int]]]:
        async with self.pool.acquire() as conn:
            found = await conn.fetchval(
                f"{self._FIRSTS} SELECT COUNT(*) FROM dupes", self.campaign_id
            )
            first = await conn.fetch(
                f"{self._FIRSTS} SELECT row, first FROM dupes ORDER BY row LIMIT $2",
                self.campaign_id,
                limit,
            )
        return int(found), [(int(r["row"]), int(r["first"])) for r in first]

    async def skip_duplicates(self) -> int:
        async with self.pool.acquire() as conn:
            done = await conn.execute(
                f"{self._FIRSTS} UPDATE bwmsg_rows r SET state = 'failed', retryable = false, "
                f"updated = {sql.EPOCH}, error = 'a duplicate of row ' || d.first || "
                "': skipped (--dedupe)' FROM dupes d WHERE r.campaign = $1 AND r.row = d.row "
                "AND r.state = 'pending' AND r.claimed_by IS NULL",
                self.campaign_id,
            )
        return _affected(done)

    # -- a worker -------------------------------------------------------------------------

    async def _settle_expired(self, conn: Any) -> int:
        states = await conn.fetch(sql.SETTLE_EXPIRED, self.campaign_id, sql.LOST)
        return sum(1 for r in states if r["state"] == "unknown")

    async def start_run(self) -> int:
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        async with self.pool.acquire() as conn, conn.transaction():
            recovered = await self._settle_expired(conn)
            self.started = await conn.fetchval(
                "INSERT INTO bwmsg_workers (id, campaign, host, pid, started, lease_until) "
                f"VALUES ($1, $2, $3, $4, {sql.EPOCH}, now() + $5 * interval '1 second') "
                "RETURNING started",
                self.worker,
                self.campaign_id,
                socket.gethostname(),
                os.getpid(),
                self.lease,
            )
        self.renewer = asyncio.ensure_future(self._renew())
        return recovered

    async def _renew(self) -> None:
        """Push the lease on every third of its length; note when it was lost."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                async with self.pool.acquire() as conn:
                    done = await conn.execute(sql.RENEW, self.worker, self.lease)
            except Exception as exc:  # the database away for a moment: claims check the lease
                logger.warning(
                    "could not renew the lease (%s)", without_password(str(exc), self.url)
                )
                continue
            if not _affected(done):
                self.lost = True
                return

    async def _stop_renewing(self) -> None:
        if self.renewer is not None:
            self.renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.renewer
            self.renewer = None

    async def end_run(self, result: str) -> None:
        await self._stop_renewing()
        if self.worker is None:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(sql.RELEASE, self.campaign_id, sql.LOST, self.worker)
            await conn.execute(
                f"UPDATE bwmsg_workers SET ended = {sql.EPOCH}, result = $2 WHERE id = $1",
                self.worker,
                result,
            )

    async def _own_lease(self, conn: Any) -> None:
        if self.lost or await conn.fetchval(sql.OWN_LEASE, self.worker) is None:
            self.lost = True
            raise LeaseLost(
                f"this worker's lease ({self.lease:g}s) ran out before it was renewed: its rows "
                "may be another worker's now; nothing more is sent (a longer --lease, or a "
                "database nearer or less busy)"
            )

    async def claim(self, limit: int, rules: ClaimRules) -> list[Claimed] | None:
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                await self._settle_expired(conn)
                await self._own_lease(conn)
                found = list(
                    await conn.fetch(sql.CLAIM_PENDING, self.campaign_id, limit, self.worker)
                )
                if len(found) < limit:
                    found += await conn.fetch(
                        sql.CLAIM_OTHERS,
                        self.campaign_id,
                        limit - len(found),
                        self.worker,
                        self.started,
                        rules.retry_failed,
                        rules.resend_unknown,
                    )
            if not found:
                busy = await conn.fetchval(sql.OPEN_ELSEWHERE, self.campaign_id, self.worker)
                return [] if busy else None
        claimed = [
            Claimed(r["row"], json.loads(r["request"]), RowState(r["state"]), r["retryable"])
            for r in found
        ]
        return sorted(claimed, key=lambda c: c.row)

    async def record(
        self,
        updates: Sequence[RowUpdate],
        *,
        sent: Sequence[Sent] = (),
        sending: Sequence[Marking] = (),
        settled_below: int | None = None,
    ) -> float:
        if sent:
            updates = [*updates, *map(sent_update, sent)]
        async with self.writing, self.pool.acquire() as conn, conn.transaction():
            if updates:
                await conn.execute(sql.RECORD, self.campaign_id, self.worker, *_columns(updates))
            if sending:
                await self._own_lease(conn)
                done = await conn.execute(
                    sql.MARK,
                    self.campaign_id,
                    self.worker,
                    [m.row for m in sending],
                    [m.sender for m in sending],
                    [m.segments for m in sending],
                    [m.encoding for m in sending],
                )
                if _affected(done) != len(sending):
                    raise LeaseLost("rows this worker claimed are no longer its own")
            now: float = await conn.fetchval(f"SELECT {sql.EPOCH}")
        return now

    # -- reading --------------------------------------------------------------------------------

    async def _value(self, query: str, *args: Any) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchval(query, self.campaign_id, *args)

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        async with self.pool.acquire() as conn:
            return list(await conn.fetch(query, self.campaign_id, *args))

    async def runs(self) -> list[tuple[float, float | None, str | None]]:
        found = await self._fetch(
            "SELECT started, ended, result FROM bwmsg_workers WHERE campaign = $1 "
            "ORDER BY started, id"
        )
        return [(r["started"], r["ended"], r["result"]) for r in found]

    async def counts(self) -> dict[str, int]:
        found = await self._fetch(
            "SELECT state, COUNT(*) AS n FROM bwmsg_rows WHERE campaign = $1 GROUP BY state"
        )
        by_state = {r["state"]: int(r["n"]) for r in found}
        return {state.value: by_state.get(state.value, 0) for state in RowState}

    async def retryable_count(self) -> int:
        return int(
            await self._value(
                "SELECT COUNT(*) FROM bwmsg_rows WHERE campaign = $1 AND state = 'failed' "
                "AND retryable"
            )
        )

    async def sent_segments(self) -> int:
        return int(
            await self._value(
                "SELECT COALESCE(SUM(segments), 0) FROM bwmsg_rows WHERE campaign = $1 "
                "AND state = 'sent'"
            )
        )

    async def last_unknown(self) -> float | None:
        found = await self._value(
            "SELECT MAX(updated) FROM bwmsg_rows WHERE campaign = $1 AND state = 'unknown'"
        )
        return None if found is None else float(found)

    async def top_errors(self, limit: int = 10) -> list[tuple[str, int | None, str, int]]:
        found = await self._fetch(
            "SELECT state, status, COALESCE(error, '') AS error, COUNT(*) AS n FROM bwmsg_rows "
            "WHERE campaign = $1 AND state IN ('failed', 'unknown') GROUP BY state, status, "
            "error ORDER BY COUNT(*) DESC LIMIT $2",
            limit,
        )
        return [(r["state"], r["status"], r["error"], int(r["n"])) for r in found]

    async def rows(self) -> AsyncIterator[Mapping[str, Any]]:
        async with self.pool.acquire() as conn, conn.transaction():
            query = f"SELECT {_ROW_COLUMNS} FROM bwmsg_rows WHERE campaign = $1 ORDER BY row"
            async for record in conn.cursor(query, self.campaign_id, prefetch=1000):
                yield record

    async def receipt_counts(self) -> dict[str, int]:
        found = await self._fetch(
            "SELECT COALESCE(receipt, 'awaiting') AS receipt, COUNT(*) AS n FROM bwmsg_rows "
            "WHERE campaign = $1 AND (state = 'sent' OR receipt IS NOT NULL) GROUP BY receipt"
        )
        by = {r["receipt"]: int(r["n"]) for r in found}
        return {key: by.get(key, 0) for key in ("delivered", "failed", "awaiting")}

    async def receipt_failures(self, limit: int = 10) -> list[tuple[int | None, str, int]]:
        found = await self._fetch(
            "SELECT receipt_code, COUNT(*) AS n FROM bwmsg_rows WHERE campaign = $1 AND "
            "receipt = 'failed' GROUP BY receipt_code ORDER BY COUNT(*) DESC LIMIT $2",
            limit,
        )
        return [
            (c, describe_error(c) if c is not None else "", int(r["n"]))
            for r in found
            for c in (r["receipt_code"],)
        ]

    # -- receipts and reconciliation ---------------------------------------------------------

    def _row_of_tag(self, tag: str | None) -> int | None:
        if not tag or not tag.startswith("bwmsg:") or tag.count(":") != 2:
            return None
        _, campaign, row = tag.split(":", 2)
        return int(row) if campaign == self.campaign_id and row.isdigit() else None

    async def apply_receipt(self, event: CallbackEvent) -> ReceiptResult:
        if not isinstance(event, StatusCallback):
            return ReceiptResult.UNMATCHED
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchval(
                "SELECT row FROM bwmsg_rows WHERE campaign = $1 AND message_id = $2 LIMIT 1",
                self.campaign_id,
                event.message.id,
            )
            result = ReceiptResult.UNCHANGED
            if row is None:
                row = self._row_of_tag(event.message.tag)
                settled = await self._by_tag(conn, row, event.message.id) if row else None
                if settled is None:
                    return ReceiptResult.UNMATCHED
                result = settled
            if event.type is StatusType.DELIVERED or event.type is StatusType.FAILED:
                failed = event.type is StatusType.FAILED
                done = await conn.execute(
                    "UPDATE bwmsg_rows SET receipt = $3, receipt_code = $4, "
                    "receipt_description = $5, receipt_time = COALESCE($6, "
                    f"{sql.EPOCH}) WHERE campaign = $1 AND row = $2 AND receipt IS NULL",
                    self.campaign_id,
                    row,
                    "failed" if failed else "delivered",
                    event.error_code if failed else None,
                    (event.description or event.error) if failed else None,
                    event.time.timestamp() if event.time is not None else None,
                )
                if _affected(done) and result is not ReceiptResult.SETTLED:
                    result = ReceiptResult.FAILED if failed else ReceiptResult.DELIVERED
        return result

    async def _by_tag(self, conn: Any, row: int, message_id: str) -> ReceiptResult | None:
        """A row found by its tag: proved sent (SETTLED), its id kept while in flight
        (UNCHANGED), or None (not this event's row)."""
        hit = await conn.fetchrow(
            "SELECT state, message_id, error FROM bwmsg_rows WHERE campaign = $1 AND row = $2 "
            "FOR UPDATE",
            self.campaign_id,
            row,
        )
        if hit is None or hit["message_id"] is not None:
            return None
        state, error = hit["state"], hit["error"]
        if state == "unknown" or (state == "failed" and error == SAFE_TO_RESEND):
            await conn.execute(
                "UPDATE bwmsg_rows SET state = 'sent', message_id = $3, error = NULL, "
                f"retryable = false, updated = {sql.EPOCH} WHERE campaign = $1 AND row = $2",
                self.campaign_id,
                row,
                message_id,
            )
            return ReceiptResult.SETTLED
        if state in ("sending", "sent"):  # in flight: the worker keeps the id
            await conn.execute(
                "UPDATE bwmsg_rows SET message_id = $3 WHERE campaign = $1 AND row = $2",
                self.campaign_id,
                row,
                message_id,
            )
            return ReceiptResult.UNCHANGED
        return None

    async def recover(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._settle_expired(conn)

    async def unknown_rows(self) -> list[tuple[int, str, str | None, float | None, float | None]]:
        found = await self._fetch(
            "SELECT row, recipients, sender, sending_at, updated FROM bwmsg_rows "
            "WHERE campaign = $1 AND state = 'unknown' ORDER BY row"
        )
        return [tuple(r) for r in found]

    async def has_message(self, message_id: str) -> bool:
        async with self.pool.acquire() as conn:
            found = await conn.fetchval(
                "SELECT 1 FROM bwmsg_rows WHERE message_id = $1 LIMIT 1", message_id
            )
        return found is not None

    async def settle(self, row: int, message_id: str | None) -> bool:
        if message_id is not None:
            query = (
                "UPDATE bwmsg_rows SET state = 'sent', message_id = $3, error = NULL, "
                f"retryable = false, updated = {sql.EPOCH} WHERE campaign = $1 AND row = $2 "
                "AND state = 'unknown'"
            )
            args: tuple[Any, ...] = (row, message_id)
        else:
            query = (
                f"UPDATE bwmsg_rows SET state = 'failed', retryable = true, error = $3, "
                f"updated = {sql.EPOCH} WHERE campaign = $1 AND row = $2 AND state = 'unknown'"
            )
            args = (row, SAFE_TO_RESEND)
        async with self.pool.acquire() as conn:
            done = await conn.execute(query, self.campaign_id, *args)
        return _affected(done) == 1


def _affected(status: str) -> int:
    """Rows a statement changed, from asyncpg's status text (``UPDATE 3``)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _columns(updates: Sequence[RowUpdate]) -> list[list[Any]]:
    """The updates as one array per column, for ``unnest``."""
    return [
        [u.row for u in updates],
        [u.state.value for u in updates],
        [u.message_id for u in updates],
        [u.error for u in updates],
        [u.status for u in updates],
        [u.retryable for u in updates],
        [u.attempts for u in updates],
        [u.sender for u in updates],
        [u.segments for u in updates],
        [u.encoding for u in updates],
        [u.sending_at for u in updates],
    ]
