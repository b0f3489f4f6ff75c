"""How the drop ledger lays out a file's claim, progress and result in one relational row, and
the claim itself as one conditional upsert; shared by the SQLite and PostgreSQL adapters."""

from __future__ import annotations

import string
from typing import Any

from parcelstream.storage.ports import DropFile, DropOutcome, DropProgress, DropRecord

DROP_COLUMNS = (
    "key, etag, size, state, owner, claims, clock, rows_done, appending_through, accepted,"
    " duplicates, replayed, rows, rejected, sha256, error, finished_at"
)

# A new file is inserted as claimed; a known one is taken over only while unfinished and either
# ours already or with its lease run out. No row returned means someone else has it, or it is done.
CLAIM = """
INSERT INTO drop_files (key, etag, size, state, owner, claims, clock, lease_until, claimed_at)
VALUES ({key}, {etag}, {size}, 'ingesting', {owner}, 1, {now}, {until}, {now})
ON CONFLICT (key, etag, size) DO UPDATE
SET owner = excluded.owner, claims = drop_files.claims + 1, lease_until = excluded.lease_until,
    claimed_at = excluded.claimed_at
WHERE drop_files.state = 'ingesting'
  AND (drop_files.owner = excluded.owner OR drop_files.lease_until <= excluded.claimed_at)
RETURNING clock, claims, rows_done, appending_through, accepted, duplicates, replayed
"""

CHECKPOINT = """
UPDATE drop_files
SET rows_done = {rows_done}, appending_through = {appending_through}, accepted = {accepted},
    duplicates = {duplicates}, replayed = {replayed}, lease_until = {until}
WHERE key = {key} AND etag = {etag} AND size = {size} AND owner = {owner}
  AND state = 'ingesting'
"""

FINISH = """
UPDATE drop_files
SET state = {state}, rows = {rows}, accepted = {accepted}, rejected = {rejected},
    duplicates = {duplicates}, replayed = {replayed}, sha256 = {sha256}, error = {error},
    finished_at = {now}
WHERE key = {key} AND etag = {etag} AND size = {size} AND owner = {owner}
  AND state = 'ingesting'
"""


def placeholders(sql: str, style: str) -> tuple[str, list[str]]:
    """The SQL with `{name}` marks turned into `:name` (SQLite) or `$n` (PostgreSQL), and the
    names in `$n` order."""
    names: list[str] = []

    def mark(name: str) -> str:
        if style == "sqlite":
            return f":{name}"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    fields = dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(sql) if f)
    return sql.format(**{f: mark(f) for f in fields}), names


def claim_row(row: Any) -> tuple[int, int, DropProgress]:
    """(clock, claims, progress) from the columns CLAIM returns."""
    clock, claims, rows_done, through, accepted, duplicates, replayed = row
    return clock, claims, DropProgress(rows_done, through, accepted, duplicates, replayed)


def record_from_row(row: Any) -> DropRecord:
    (key, etag, size, state, owner, claims, clock, rows_done, through, accepted, duplicates,
     replayed, rows, rejected, sha256, error, finished_at) = row  # fmt: skip
    outcome = None
    if state != "ingesting":
        outcome = DropOutcome(rows, accepted, rejected, duplicates, replayed, sha256 or "", error)
    return DropRecord(
        file=DropFile(key, etag, size),
        state=state,
        owner=owner,
        claims=claims,
        clock=clock,
        progress=DropProgress(rows_done, through, accepted, duplicates, replayed),
        outcome=outcome,
        finished_at=finished_at,
    )


def file_params(file: DropFile) -> dict[str, Any]:
    return {"key": file.key, "etag": file.etag, "size": file.size}


def progress_params(p: DropProgress) -> dict[str, Any]:
    return {
        "rows_done": p.rows_done,
        "appending_through": p.appending_through,
        "accepted": p.accepted,
        "duplicates": p.duplicates,
        "replayed": p.replayed,
    }


def outcome_params(o: DropOutcome) -> dict[str, Any]:
    return {
        "state": "failed" if o.error else "done",
        "rows": o.rows,
        "accepted": o.accepted,
        "rejected": o.rejected,
        "duplicates": o.duplicates,
        "replayed": o.replayed,
        "sha256": o.sha256,
        "error": o.error,
    }
