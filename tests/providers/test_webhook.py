"""WebhookProvider against a shipper's endpoint that verifies signatures as the README says."""

from __future__ import annotations

import json
import re
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace

import pytest

from parcelstream.notify.providers import webhook
from parcelstream.notify.providers.base import Message, ProviderError, Sent
from parcelstream.notify.providers.webhook import WebhookProvider, sign_webhook, verify_webhook
from tests.providers.checks import SHORT, assert_no_secret
from tests.providers.fakes import FakeWebhookReceiver

EVENT = {
    "event": "milestone",
    "tracking_number": "1Z999AA10123456784",
    "status": "OUT_FOR_DELIVERY",
    "detail": None,
    "delivery_window": {
        "date": "2026-11-24",
        "earliest": "2026-11-24T10:00:00-05:00",
        "latest": "2026-11-24T14:00:00-05:00",
    },
}


def hook(receiver: FakeWebhookReceiver, event_id: str = "evt-1z999-ofd-1-sub-10") -> Message:
    return Message(
        channel="webhook",
        to=receiver.url + "/hooks/parcelstream",
        event_id=event_id,
        body=json.dumps(EVENT, separators=(",", ":")).encode(),
    )


@pytest.fixture
async def provider(receiver: FakeWebhookReceiver) -> AsyncIterator[WebhookProvider]:
    provider = WebhookProvider(receiver.secret, timeout=SHORT)
    yield provider
    await provider.close()


async def send_failing(provider: WebhookProvider, message: Message) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.send(message)
    return caught.value


async def test_send_posts_the_exact_body_signed_over_timestamp_and_body(
    receiver: FakeWebhookReceiver, provider: WebhookProvider
) -> None:
    message = hook(receiver)

    sent = await provider.send(message)

    assert receiver.problems == []
    assert sent == Sent("webhook", message.event_id)
    [delivery] = receiver.accepted
    assert delivery.id == message.event_id
    assert delivery.received.body == message.body
    assert delivery.received.path == "/hooks/parcelstream"
    headers = delivery.received.headers
    assert headers["content-type"] == "application/json"
    assert headers["parcelstream-event-id"] == message.event_id
    assert abs(int(headers["parcelstream-timestamp"]) - time.time()) < 5
    assert re.fullmatch(r"v1=[0-9a-f]{64}", headers["parcelstream-signature"])


async def test_a_retried_event_is_resigned_and_the_receiver_sees_the_same_event_id(
    receiver: FakeWebhookReceiver, provider: WebhookProvider
) -> None:
    message = hook(receiver)

    await provider.send(message)
    await provider.send(message)

    assert len(receiver.accepted) == 1
    assert len(receiver.duplicates) == 1
    assert receiver.problems == []


async def test_send_signed_uses_the_subscriptions_own_secret(receiver: FakeWebhookReceiver) -> None:
    unsigned = WebhookProvider(timeout=SHORT)
    try:
        error = await send_failing(unsigned, hook(receiver))
        assert not error.retryable
        await unsigned.send_signed(hook(receiver), receiver.secret)
    finally:
        await unsigned.close()

    assert len(receiver.accepted) == 1


async def test_a_wrong_secret_is_refused_by_the_receiver_and_not_retried(
    receiver: FakeWebhookReceiver,
) -> None:
    wrong = "whsec-wrong-secret-0123"
    provider = WebhookProvider(wrong)
    try:
        error = await send_failing(provider, hook(receiver))
    finally:
        await provider.close()

    assert (error.retryable, error.status) == (False, 401)
    assert receiver.problems == ["bad signature"]
    assert_no_secret(error, wrong)


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (404, False), (410, False)]
)
async def test_the_receivers_status_decides_whether_to_retry(
    receiver: FakeWebhookReceiver, provider: WebhookProvider, status: int, retryable: bool
) -> None:
    receiver.fail_next(status)

    error = await send_failing(provider, hook(receiver))

    assert (error.retryable, error.status) == (retryable, status)


async def test_429_is_retryable_with_retry_after(
    receiver: FakeWebhookReceiver, provider: WebhookProvider
) -> None:
    receiver.fail_next(429, retry_after="120")

    error = await send_failing(provider, hook(receiver))

    assert (error.retryable, error.retry_after) == (True, 120.0)


async def test_a_redirect_is_not_followed(
    receiver: FakeWebhookReceiver, provider: WebhookProvider
) -> None:
    receiver.fail_next(307, body=b"")

    error = await send_failing(provider, hook(receiver))

    assert (error.retryable, error.status) == (False, 307)
    assert len(receiver.requests) == 1


async def test_a_reason_never_shows_the_secret_even_when_the_receiver_echoes_it(
    receiver: FakeWebhookReceiver, provider: WebhookProvider
) -> None:
    receiver.fail_next(500, body=f"cannot verify with {receiver.secret}".encode())

    error = await send_failing(provider, hook(receiver))

    assert_no_secret(error, receiver.secret)


async def test_a_slow_receiver_times_out_as_retryable(
    receiver: FakeWebhookReceiver, provider: WebhookProvider
) -> None:
    receiver.delay_next(1.0)

    error = await send_failing(provider, hook(receiver))

    assert error.retryable
    assert "timed out" in error.reason


async def test_a_refused_connection_is_retryable(
    provider: WebhookProvider, closed_port_url: str
) -> None:
    message = Message("webhook", closed_port_url + "/hook", "evt-1", body=b"{}")

    assert (await send_failing(provider, message)).retryable


@pytest.mark.parametrize(
    "url", ["http://shipper.example/hook", "ftp://127.0.0.1/hook", "https:///no-host", "hook"]
)
async def test_only_https_urls_are_called_except_plain_http_to_localhost(
    provider: WebhookProvider, url: str
) -> None:
    error = await send_failing(provider, Message("webhook", url, "evt-1", body=b"{}"))

    assert not error.retryable


async def test_a_message_without_a_body_is_refused(
    receiver: FakeWebhookReceiver, provider: WebhookProvider
) -> None:
    error = await send_failing(provider, replace(hook(receiver), body=None))

    assert not error.retryable
    assert receiver.requests == []


def test_verify_accepts_a_fresh_signature_and_refuses_any_change() -> None:
    body, now = b'{"status":"DELIVERED"}', 1_800_000_000
    signature = sign_webhook("s3cret", now, body)

    assert verify_webhook("s3cret", str(now), body, signature, now=now + 299)
    assert verify_webhook("s3cret", now, body, f"v1={'0' * 64}, {signature}", now=now)
    assert not verify_webhook("s3cret", now, body, signature, now=now + 301)  # stale
    assert not verify_webhook("s3cret", now, body, signature, now=now - 301)  # from the future
    assert not verify_webhook("other", now, body, signature, now=now)
    assert not verify_webhook("s3cret", now, body + b" ", signature, now=now)
    assert not verify_webhook("s3cret", now + 1, body, signature, now=now)
    assert not verify_webhook("s3cret", "17e8", body, signature, now=now)
    assert not verify_webhook("s3cret", now, body, signature.removeprefix("v1="), now=now)


def readme_snippet() -> Callable[[str, Mapping[str, str], bytes], bool]:
    """The verification snippet in webhook.py's docstring, which the README reuses, run as is."""
    doc = webhook.__doc__ or ""
    code = textwrap.dedent(doc[doc.index("    import hashlib") : doc.index("    # then:")])
    namespace: dict[str, object] = {}
    exec(code, namespace)
    is_authentic = namespace["is_authentic"]
    assert callable(is_authentic)
    return is_authentic


async def test_the_documented_snippet_verifies_a_real_delivery(
    receiver: FakeWebhookReceiver, provider: WebhookProvider
) -> None:
    is_authentic = readme_snippet()
    await provider.send(hook(receiver))
    [delivery] = receiver.accepted
    headers = {
        name: delivery.received.headers[name.lower()]
        for name in ("Parcelstream-Event-Id", "Parcelstream-Timestamp", "Parcelstream-Signature")
    }

    assert is_authentic(receiver.secret, headers, delivery.received.body)
    assert not is_authentic("another secret", headers, delivery.received.body)
    assert not is_authentic(receiver.secret, headers, delivery.received.body + b"\n")
    stale = {**headers, "Parcelstream-Timestamp": str(int(time.time()) - 301)}
    assert not is_authentic(receiver.secret, stale, delivery.received.body)
