-- 0007: polling state of partner-carrier packages (UPS, FedEx, USPS): what the poller knows, when
-- it polls next, and when the carrier push subscription (UPS Track Alert) needs renewing.

CREATE TABLE carrier_polls (
    tracking_number text PRIMARY KEY,
    carrier text NOT NULL,
    heard_at bigint NOT NULL,
    status text NOT NULL,
    event_at bigint NOT NULL,
    polled_at bigint,
    due_at bigint,
    polls integer NOT NULL,
    found integer NOT NULL,
    subscribed_until bigint,
    renew_at bigint
);
CREATE INDEX carrier_polls_due ON carrier_polls (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX carrier_polls_renewals ON carrier_polls (carrier, renew_at)
    WHERE renew_at IS NOT NULL AND due_at IS NOT NULL;
