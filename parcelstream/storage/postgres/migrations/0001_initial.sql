-- 0001: the first schema. Scan history is hash-partitioned by tracking number, so one
-- package's history lives in one partition and partitions can later move to their own tablespace.

CREATE TABLE scans (
    tracking_number text NOT NULL,
    occurred_at bigint NOT NULL,
    facility_id text NOT NULL,
    status_code text NOT NULL,
    utc_offset smallint NOT NULL,
    exception_code text,
    employee_id text,
    city text,
    region text,
    postal_code text,
    country text,
    -- The dedup key; its index also serves newest-first reads of one package (backward scan).
    PRIMARY KEY (tracking_number, occurred_at, facility_id, status_code)
) PARTITION BY HASH (tracking_number);
CREATE TABLE scans_p00 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 0);
CREATE TABLE scans_p01 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 1);
CREATE TABLE scans_p02 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 2);
CREATE TABLE scans_p03 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 3);
CREATE TABLE scans_p04 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 4);
CREATE TABLE scans_p05 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 5);
CREATE TABLE scans_p06 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 6);
CREATE TABLE scans_p07 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 7);
CREATE TABLE scans_p08 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 8);
CREATE TABLE scans_p09 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 9);
CREATE TABLE scans_p10 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 10);
CREATE TABLE scans_p11 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 11);
CREATE TABLE scans_p12 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 12);
CREATE TABLE scans_p13 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 13);
CREATE TABLE scans_p14 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 14);
CREATE TABLE scans_p15 PARTITION OF scans FOR VALUES WITH (MODULUS 16, REMAINDER 15);

-- One row per package ever seen: the row the processor locks to serialize updates of a package,
-- and its master data once registered.
CREATE TABLE packages (
    tracking_number text PRIMARY KEY,
    registered_at bigint,
    master bytea
);

CREATE TABLE documents (
    tracking_number text PRIMARY KEY,
    version bigint NOT NULL,
    status text NOT NULL,
    etag text NOT NULL,
    body bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Packages whose new documents may not have reached the read-model cache yet: written in the
-- same transaction as the documents, removed once the cache has them.
CREATE TABLE cache_outbox (
    id bigserial PRIMARY KEY,
    tracking_numbers text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id text PRIMARY KEY,
    name text NOT NULL,
    scopes text[] NOT NULL,
    secret_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
