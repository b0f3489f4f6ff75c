-- 0006: the ledger of facility CSV drops: one row per file version (key, etag, size), claimed
-- with a lease while it is ingested, with its progress and, once finished, its result.

CREATE TABLE drop_files (
    key text NOT NULL,
    etag text NOT NULL,
    size bigint NOT NULL,
    state text NOT NULL CHECK (state IN ('ingesting', 'done', 'failed')),
    owner text NOT NULL,
    claims integer NOT NULL,
    clock bigint NOT NULL,
    lease_until bigint NOT NULL,
    claimed_at bigint NOT NULL,
    rows_done bigint NOT NULL DEFAULT 0,
    appending_through bigint NOT NULL DEFAULT 0,
    accepted bigint NOT NULL DEFAULT 0,
    duplicates bigint NOT NULL DEFAULT 0,
    replayed bigint NOT NULL DEFAULT 0,
    rows bigint,
    rejected bigint,
    sha256 text,
    error text,
    finished_at bigint,
    PRIMARY KEY (key, etag, size)
);
