"""The shared HTTP mapping: which answers are worth retrying, and when."""

from __future__ import annotations

from pathlib import Path

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from parcelstream.notify.providers.base import Provider, ProviderError
from parcelstream.notify.providers.fcm import FcmProvider
from parcelstream.notify.providers.outbox import OutboxFileProvider
from parcelstream.notify.providers.sendgrid import SendGridProvider
from parcelstream.notify.providers.smtp import SmtpProvider
from parcelstream.notify.providers.transport import Reply, parse_retry_after, raise_for_status
from parcelstream.notify.providers.twilio import TwilioProvider
from parcelstream.notify.providers.webhook import WebhookProvider
from tests.providers.fakes import FakeFcm

NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:30:00 GMT", 120.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (409, False),
        (429, True),
        (500, True),
        (504, True),
    ],
)
def test_status_classes_map_to_retryable_or_not(status: int, retryable: bool) -> None:
    response = Reply(status, CIMultiDictProxy(CIMultiDict()), b"nope")

    with pytest.raises(ProviderError) as caught:
        raise_for_status(response, "test", secrets=(), describe=lambda r: (None, r.text))

    assert (caught.value.retryable, caught.value.status) == (retryable, status)


async def test_every_provider_satisfies_the_protocol(fcm: FakeFcm, tmp_path: Path) -> None:
    providers: list[Provider] = [
        SmtpProvider("smtp://127.0.0.1:1", "n@p.test"),
        SendGridProvider("SG.k", "n@p.test"),
        TwilioProvider("AC1", "t", "+15005550006"),
        FcmProvider("p", fcm.service_account),
        WebhookProvider("s"),
        OutboxFileProvider(tmp_path / "outbox.jsonl"),
    ]

    assert [p.name for p in providers] == ["smtp", "sendgrid", "twilio", "fcm", "webhook", "outbox"]
    for provider in providers:
        await provider.close()
