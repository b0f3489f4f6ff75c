"""SendGridProvider against a local v3 mail/send endpoint that checks what it receives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from parcelstream.notify.providers.base import Message, Provider, ProviderError, Sent
from parcelstream.notify.providers.sendgrid import SendGridProvider
from tests.providers.checks import SHORT, assert_no_secret
from tests.providers.fakes import FakeSendGrid

SENDER = "Parcelstream <notify@parcelstream.test>"


EMAIL = Message(
    channel="email",
    to="ada@example.com",
    event_id="evt-1z999-ofd-1-sub-7",
    subject="Your parcel is out for delivery",
    text="Arriving today between 10:00 and 14:00.",
    html="<p>Arriving today between <b>10:00</b> and <b>14:00</b>.</p>",
    unsubscribe_url="https://track.example/unsubscribe/abc",
)


@pytest.fixture
async def provider(sendgrid: FakeSendGrid) -> AsyncIterator[SendGridProvider]:
    provider = SendGridProvider(sendgrid.api_key, SENDER, base_url=sendgrid.url, timeout=SHORT)
    yield provider
    await provider.close()


async def send_failing(provider: Provider, message: Message) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.send(message)
    return caught.value


async def test_send_posts_the_v3_payload_with_the_bearer_key_and_returns_x_message_id(
    sendgrid: FakeSendGrid, provider: SendGridProvider
) -> None:
    sent = await provider.send(EMAIL)

    assert sendgrid.problems == []
    [mail] = sendgrid.accepted
    assert sent == Sent("sendgrid", mail.id)
    assert mail.received.headers["authorization"] == f"Bearer {sendgrid.api_key}"
    assert mail.content == {
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
        "from": {"email": "notify@parcelstream.test", "name": "Parcelstream"},
        "subject": "Your parcel is out for delivery",
        "content": [
            {"type": "text/plain", "value": "Arriving today between 10:00 and 14:00."},
            {
                "type": "text/html",
                "value": "<p>Arriving today between <b>10:00</b> and <b>14:00</b>.</p>",
            },
        ],
        "custom_args": {"event_id": "evt-1z999-ofd-1-sub-7"},
        "headers": {
            "List-Unsubscribe": "<https://track.example/unsubscribe/abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }


async def test_plain_text_mail_without_unsubscribe_link_sends_one_part_and_no_headers(
    sendgrid: FakeSendGrid, provider: SendGridProvider
) -> None:
    await provider.send(replace(EMAIL, html=None, unsubscribe_url=None))

    [mail] = sendgrid.accepted
    assert mail.content["content"] == [
        {"type": "text/plain", "value": "Arriving today between 10:00 and 14:00."}
    ]
    assert "headers" not in mail.content


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(
    sendgrid: FakeSendGrid, provider: SendGridProvider, status: int
) -> None:
    sendgrid.fail_next(status)

    error = await send_failing(provider, EMAIL)

    assert (error.retryable, error.status, error.retry_after) == (True, status, None)
    assert sendgrid.accepted == []


async def test_429_is_retryable_after_the_seconds_sendgrid_asks_for(
    sendgrid: FakeSendGrid, provider: SendGridProvider
) -> None:
    sendgrid.fail_next(429, retry_after="17")

    error = await send_failing(provider, EMAIL)

    assert (error.retryable, error.status, error.retry_after) == (True, 429, 17.0)


async def test_retry_after_given_as_an_http_date_becomes_seconds_from_now(
    sendgrid: FakeSendGrid, provider: SendGridProvider
) -> None:
    sendgrid.fail_next(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    past = await send_failing(provider, EMAIL)
    assert past.retry_after == 0.0

    sendgrid.fail_next(503, retry_after="Wed, 21 Oct 2099 07:28:00 GMT")
    future = await send_failing(provider, EMAIL)
    assert future.retry_after is not None
    assert future.retry_after > 3600


async def test_an_address_sendgrid_refuses_is_not_retryable_and_says_why(
    sendgrid: FakeSendGrid, provider: SendGridProvider
) -> None:
    error = await send_failing(provider, replace(EMAIL, to="not-an-address"))

    assert (error.retryable, error.status) == (False, 400)
    assert "personalization" in error.reason
    assert sendgrid.problems != []


async def test_a_wrong_api_key_is_not_retryable_and_the_key_never_shows(
    sendgrid: FakeSendGrid,
) -> None:
    wrong_key = "SG.wrong-secret-key.abcdef"
    provider = SendGridProvider(wrong_key, SENDER, base_url=sendgrid.url)
    try:
        error = await send_failing(provider, EMAIL)
    finally:
        await provider.close()

    assert (error.retryable, error.status) == (False, 401)
    assert_no_secret(error, wrong_key)


async def test_a_server_echoing_the_key_does_not_put_it_in_the_reason(
    sendgrid: FakeSendGrid, provider: SendGridProvider
) -> None:
    sendgrid.fail_next(500, body=f"upstream said: key {sendgrid.api_key} overloaded".encode())

    error = await send_failing(provider, EMAIL)

    assert "overloaded" in error.reason
    assert_no_secret(error, sendgrid.api_key)


async def test_a_slow_answer_times_out_as_retryable(
    sendgrid: FakeSendGrid, provider: SendGridProvider
) -> None:
    sendgrid.delay_next(1.0)

    error = await send_failing(provider, EMAIL)

    assert (error.retryable, error.status) == (True, None)
    assert "timed out" in error.reason


async def test_a_refused_connection_is_retryable(closed_port_url: str) -> None:
    provider = SendGridProvider("SG.key-0123", SENDER, base_url=closed_port_url)
    try:
        error = await send_failing(provider, EMAIL)
    finally:
        await provider.close()

    assert error.retryable
    assert "connection failed" in error.reason


async def test_an_accepted_mail_with_a_garbled_answer_counts_as_sent(
    sendgrid: FakeSendGrid, provider: SendGridProvider
) -> None:
    sendgrid.malform_next(202)

    assert await provider.send(EMAIL) == Sent("sendgrid", None)


async def test_mail_without_subject_or_body_is_refused_without_a_request(
    sendgrid: FakeSendGrid, provider: SendGridProvider
) -> None:
    for message in (replace(EMAIL, subject=None), replace(EMAIL, text="", html=None)):
        error = await send_failing(provider, message)
        assert not error.retryable
    assert sendgrid.requests == []
