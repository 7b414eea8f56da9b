"""The SQL of the PostgreSQL journal (:mod:`._postgres`), kept apart from the driver's calls.

Every table is prefixed ``bwmsg_`` so that a journal can share a database with other things;
campaigns are kept apart by their id (``bwmsg_campaigns.id``, the input's and template's
fingerprint), which every row and worker carries. Times the workers compare (leases) are the
database's ``now()``; times written for an operator are its clock too, as seconds since the
epoch (``EPOCH``).
"""

from __future__ import annotations

__all__ = [
    "CLAIM_OTHERS",
    "CLAIM_PENDING",
    "EPOCH",
    "LOST",
    "MARK",
    "OPEN_ELSEWHERE",
    "OWN_LEASE",
    "RECORD",
    "RELEASE",
    "RENEW",
    "SCHEMA",
    "SETTLE_EXPIRED",
]

EPOCH = "extract(epoch from clock_timestamp())::double precision"

SCHEMA = """
CREATE TABLE IF NOT EXISTS bwmsg_campaigns (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    meta JSONB NOT NULL DEFAULT '{}',
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS bwmsg_workers (
    id TEXT PRIMARY KEY,
    campaign TEXT NOT NULL REFERENCES bwmsg_campaigns (id),
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started DOUBLE PRECISION NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL,
    ended DOUBLE PRECISION,
    result TEXT
);
CREATE TABLE IF NOT EXISTS bwmsg_rows (
    campaign TEXT NOT NULL REFERENCES bwmsg_campaigns (id),
    row INTEGER NOT NULL,
    recipients TEXT NOT NULL DEFAULT '',
    request JSONB,
    sender TEXT,
    state TEXT NOT NULL,
    retryable BOOLEAN NOT NULL DEFAULT false,
    message_id TEXT,
    error TEXT,
    status INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    segments INTEGER,
    encoding TEXT,
    updated DOUBLE PRECISION,
    sending_at DOUBLE PRECISION,
    claimed_by TEXT,
    worker TEXT,
    receipt TEXT,
    receipt_code INTEGER,
    receipt_description TEXT,
    receipt_time DOUBLE PRECISION,
    PRIMARY KEY (campaign, row)
);
CREATE INDEX IF NOT EXISTS bwmsg_rows_message_id ON bwmsg_rows (message_id);
CREATE INDEX IF NOT EXISTS bwmsg_rows_claimable ON bwmsg_rows (campaign, row)
    WHERE state = 'pending' AND claimed_by IS NULL;
CREATE INDEX IF NOT EXISTS bwmsg_rows_open ON bwmsg_rows (campaign, claimed_by)
    WHERE state IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS bwmsg_rows_again ON bwmsg_rows (campaign, row)
    WHERE state IN ('failed', 'unknown');
CREATE INDEX IF NOT EXISTS bwmsg_rows_claimed ON bwmsg_rows (claimed_by)
    WHERE claimed_by IS NOT NULL;
"""

LOST = "the worker's lease ran out while it was being sent: it may have been sent"

# This worker's lease, locked against a settler while the transaction marks or claims rows.
OWN_LEASE = (
    "SELECT 1 FROM bwmsg_workers WHERE id = $1 AND ended IS NULL AND lease_until > now() FOR SHARE"
)

RENEW = (
    "UPDATE bwmsg_workers SET lease_until = now() + $2 * interval '1 second' "
    "WHERE id = $1 AND ended IS NULL AND lease_until > now()"
)

# Workers whose lease ran out: their `sending` rows become `unknown` (`sent` when a receipt
# proved them), the rows they claimed but never sent go back to `pending` for the others.
SETTLE_EXPIRED = f"""
WITH dead AS (
    UPDATE bwmsg_workers SET ended = {EPOCH}, result = 'lease expired'
    WHERE campaign = $1 AND ended IS NULL AND lease_until < now() RETURNING id
)
UPDATE bwmsg_rows r SET
    state = CASE WHEN r.state <> 'sending' THEN r.state
        WHEN r.message_id IS NOT NULL THEN 'sent' ELSE 'unknown' END,
    error = CASE WHEN r.state = 'sending' AND r.message_id IS NULL THEN $2 ELSE r.error END,
    updated = CASE WHEN r.state = 'sending' THEN {EPOCH} ELSE r.updated END,
    claimed_by = NULL
FROM dead WHERE r.campaign = $1 AND r.claimed_by = dead.id
RETURNING r.state
"""

# A worker's own rows when it ends (normally none are left: the runner put them back).
RELEASE = f"""
UPDATE bwmsg_rows SET
    state = CASE WHEN state <> 'sending' THEN state
        WHEN message_id IS NOT NULL THEN 'sent' ELSE 'unknown' END,
    error = CASE WHEN state = 'sending' AND message_id IS NULL THEN $2 ELSE error END,
    updated = CASE WHEN state = 'sending' THEN {EPOCH} ELSE updated END,
    claimed_by = NULL
WHERE campaign = $1 AND claimed_by = $3
"""

CLAIM_PENDING = """
WITH picked AS (
    SELECT row FROM bwmsg_rows WHERE campaign = $1 AND state = 'pending' AND claimed_by IS NULL
    ORDER BY row LIMIT $2 FOR UPDATE SKIP LOCKED
)
UPDATE bwmsg_rows r SET claimed_by = $3 FROM picked
WHERE r.campaign = $1 AND r.row = picked.row
RETURNING r.row, r.request, r.state, r.retryable
"""

# Rows besides `pending` a worker takes: those written before it started ($4, the database's
# epoch): failed for a transient cause; with $5 failed with a 4xx; with $6 unknown.
CLAIM_OTHERS = """
WITH picked AS (
    SELECT row FROM bwmsg_rows WHERE campaign = $1 AND state IN ('failed', 'unknown')
    AND claimed_by IS NULL AND updated < $4 AND (
        (state = 'failed' AND retryable)
        OR ($5 AND state = 'failed' AND NOT retryable AND status BETWEEN 400 AND 499)
        OR ($6 AND state = 'unknown'))
    ORDER BY row LIMIT $2 FOR UPDATE SKIP LOCKED
)
UPDATE bwmsg_rows r SET claimed_by = $3 FROM picked
WHERE r.campaign = $1 AND r.row = picked.row
RETURNING r.row, r.request, r.state, r.retryable
"""

# Whether rows another worker holds (claimed or in flight) may still come back.
OPEN_ELSEWHERE = (
    "SELECT EXISTS (SELECT 1 FROM bwmsg_rows WHERE campaign = $1 AND state IN ('pending', "
    "'sending') AND claimed_by IS DISTINCT FROM $2)"
)

MARK = f"""
UPDATE bwmsg_rows r SET state = 'sending', worker = $2, sender = m.sender,
    segments = m.segments, encoding = m.encoding, updated = {EPOCH},
    sending_at = CASE WHEN r.state = 'unknown' THEN COALESCE(r.sending_at, {EPOCH})
        ELSE {EPOCH} END
FROM unnest($3::int[], $4::text[], $5::int[], $6::text[]) AS m(row, sender, segments, encoding)
WHERE r.campaign = $1 AND r.row = m.row AND r.claimed_by = $2
"""

# Outcomes, as SQLite's journal writes them (a receipt's proof wins over `unknown`, an error
# is kept when a row is put back), only to rows this worker holds (or that its lease's end
# made `unknown`: what it learnt since is the truth).
_PROVED = "u.state = 'unknown' AND r.message_id IS NOT NULL"
RECORD = f"""
UPDATE bwmsg_rows r SET
    state = CASE WHEN {_PROVED} THEN 'sent' ELSE u.state END,
    message_id = COALESCE(u.message_id, r.message_id),
    error = CASE WHEN {_PROVED} THEN NULL WHEN u.state IN ('failed', 'unknown')
        THEN COALESCE(u.error, r.error) ELSE u.error END,
    status = CASE WHEN u.state = 'failed' THEN COALESCE(u.status, r.status) ELSE u.status END,
    retryable = u.retryable, attempts = r.attempts + u.attempts, updated = {EPOCH},
    sender = COALESCE(u.sender, r.sender), segments = COALESCE(u.segments, r.segments),
    encoding = COALESCE(u.encoding, r.encoding),
    sending_at = COALESCE(r.sending_at, u.sending_at),
    claimed_by = NULL
FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::int[], $8::bool[], $9::int[],
    $10::text[], $11::int[], $12::text[], $13::float8[])
    AS u(row, state, message_id, error, status, retryable, attempts, sender, segments,
         encoding, sending_at)
WHERE r.campaign = $1 AND r.row = u.row AND (r.claimed_by = $2
    OR (r.claimed_by IS NULL AND r.worker = $2 AND r.state = 'unknown'))
"""
