-- 0002: the notification outbox. The processor records each milestone occurrence in the same
-- transaction as the history change that caused it; the notifier dispatches and marks them.

CREATE TABLE milestones (
    tracking_number text NOT NULL,
    milestone text NOT NULL,
    number integer NOT NULL,
    detail text,
    occurred_at bigint NOT NULL,
    utc_offset smallint NOT NULL,
    city text,
    region text,
    country text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    dispatched boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tracking_number, milestone, number)
);
CREATE INDEX milestones_pending ON milestones (recorded_at) WHERE NOT dispatched;
