-- 0003: notification subscriptions, opt-outs of the automatic ones, deliveries and attempts.

CREATE TABLE subscriptions (
    subscription_id text PRIMARY KEY,
    tracking_number text NOT NULL,
    channel text NOT NULL,
    address text NOT NULL,
    milestones text[] NOT NULL,
    source text NOT NULL,
    secret text,
    removed boolean NOT NULL DEFAULT false
);
CREATE INDEX subscriptions_by_package ON subscriptions (tracking_number);

CREATE TABLE opt_outs (
    tracking_number text NOT NULL,
    channel text NOT NULL,
    address text NOT NULL,
    PRIMARY KEY (tracking_number, channel, address)
);

CREATE TABLE deliveries (
    delivery_id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    tracking_number text NOT NULL,
    milestone text NOT NULL,
    number integer NOT NULL,
    subscription_id text NOT NULL,
    channel text NOT NULL,
    address text NOT NULL,
    state text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL,
    created_at bigint NOT NULL,
    sent_at bigint,
    provider text,
    provider_message_id text,
    last_error text,
    receipt text,
    latency_ms double precision
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_package ON deliveries (tracking_number);
CREATE INDEX deliveries_by_provider_id ON deliveries (provider, provider_message_id);

CREATE TABLE delivery_attempts (
    delivery_id bigint NOT NULL,
    at bigint NOT NULL,
    state text NOT NULL,
    latency_ms double precision NOT NULL,
    provider text,
    provider_message_id text,
    error text
);
CREATE INDEX attempts_by_delivery ON delivery_attempts (delivery_id);
