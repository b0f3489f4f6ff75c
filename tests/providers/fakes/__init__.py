"""Local stand-ins for the notification providers, speaking their wire formats and checking what
they receive; the notifier's end-to-end tests reuse them.

    with FakeTwilio() as twilio:                  # a real HTTP server on 127.0.0.1, own thread
        provider = TwilioProvider(twilio.account_sid, twilio.auth_token, "+15005550006",
                                  base_url=twilio.url)
        twilio.fail_next(429, retry_after="7")    # the next send answers 429 + Retry-After: 7
        ...
        assert twilio.accepted[0].content["Body"] == "Out for delivery"
        assert twilio.problems == []              # nothing the real Twilio would have refused

Every HTTP fake has: `url`, `requests` (all received), `accepted` (messages taken: id, content,
the request), `problems`, `fail_next(status, count, retry_after=, body=, route=)`,
`delay_next(seconds, count)`, `malform_next(status, count)`, `reset()` and
`await wait_for(count)`. FakeSmtp has the same shape over aiosmtpd, with `mails`.
"""

from tests.providers.fakes.fcm import FakeFcm
from tests.providers.fakes.sendgrid import FakeSendGrid
from tests.providers.fakes.server import Accepted, FakeServer, Received
from tests.providers.fakes.smtp import FakeSmtp, Mail, TestCertificate, make_certificate
from tests.providers.fakes.twilio import FakeTwilio
from tests.providers.fakes.webhook import FakeWebhookReceiver

__all__ = [
    "Accepted",
    "FakeFcm",
    "FakeSendGrid",
    "FakeServer",
    "FakeSmtp",
    "FakeTwilio",
    "FakeWebhookReceiver",
    "Mail",
    "Received",
    "TestCertificate",
    "make_certificate",
]
