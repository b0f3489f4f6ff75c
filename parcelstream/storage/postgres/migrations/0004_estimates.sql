-- 0004: estimated delivery. The processor writes an EDD request in the same transaction as the
-- change that caused it; the EDD worker stores estimates (the original and the latest), patches
-- the document, and indexes deliveries by time for training.

CREATE SEQUENCE eta_request_seq;

CREATE TABLE eta_requests (
    tracking_number text PRIMARY KEY,
    seq bigint NOT NULL,
    lease_until bigint NOT NULL DEFAULT 0,
    dead text
);
CREATE INDEX eta_requests_due ON eta_requests (seq) WHERE dead IS NULL;

CREATE TABLE estimates (
    tracking_number text PRIMARY KEY,
    record bytea NOT NULL,
    document bytea,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE eta_deliveries (
    delivered_at bigint NOT NULL,
    tracking_number text NOT NULL,
    PRIMARY KEY (delivered_at, tracking_number)
);
