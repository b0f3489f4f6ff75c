"""TwilioProvider against a local Messages API, and the status-callback signature check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
from starlette.responses import Response
from starlette.routing import Route

from parcelstream.notify.providers.base import Message, ProviderError, Sent
from parcelstream.notify.providers.twilio import (
    TwilioProvider,
    twilio_signature,
    verify_twilio_signature,
)
from tests.providers.checks import SHORT, assert_no_secret
from tests.providers.fakes import FakeServer, FakeTwilio, Received

SMS = Message(
    channel="sms",
    to="+14155550123",
    event_id="evt-1z999-ofd-1-sub-8",
    text="Parcel 1Z999AA10123456784 is out for delivery. Stop: https://t.example/u/x",
)
FROM = "+15005550006"
CALLBACK_PATH = "/v1/notifications/callbacks/twilio"

# Twilio's published example for request validation (auth token 12345).
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


class CallbackReceiver(FakeServer):
    """Our side of a status callback: records what Twilio posts."""

    def _routes(self) -> list[Route]:
        return [self._route(CALLBACK_PATH, "send", self._ok)]

    def _error_body(self, route: str, status: int) -> bytes:
        return b""

    async def _ok(self, received: Received) -> Response:
        return Response(status_code=204)


@pytest.fixture
def callbacks() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as receiver:
        yield receiver


@pytest.fixture
async def provider(twilio: FakeTwilio) -> AsyncIterator[TwilioProvider]:
    provider = TwilioProvider(
        twilio.account_sid, twilio.auth_token, FROM, base_url=twilio.url, timeout=SHORT
    )
    yield provider
    await provider.close()


async def send_failing(provider: TwilioProvider, message: Message = SMS) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.send(message)
    return caught.value


async def test_send_posts_the_form_with_basic_auth_and_returns_the_message_sid(
    twilio: FakeTwilio, provider: TwilioProvider
) -> None:
    sent = await provider.send(SMS)

    assert twilio.problems == []
    [sms] = twilio.accepted
    assert sent == Sent("twilio", sms.id)
    assert sms.id.startswith("SM")
    assert sms.received.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert sms.content == {"To": SMS.to, "From": FROM, "Body": SMS.text}


async def test_status_callback_and_messaging_service_sender_go_in_their_own_fields(
    twilio: FakeTwilio,
) -> None:
    callback = "https://api.parcelstream.example/v1/notifications/callbacks/twilio"
    service = "MG" + "0" * 32
    provider = TwilioProvider(
        twilio.account_sid,
        twilio.auth_token,
        service,
        base_url=twilio.url,
        status_callback=callback,
    )
    try:
        await provider.send(SMS)
    finally:
        await provider.close()

    [sms] = twilio.accepted
    assert sms.content == {
        "To": SMS.to,
        "MessagingServiceSid": service,
        "Body": SMS.text,
        "StatusCallback": callback,
    }


async def test_an_invalid_number_is_not_retryable_and_carries_twilios_code(
    twilio: FakeTwilio, provider: TwilioProvider
) -> None:
    error = await send_failing(provider, replace(SMS, to="555-0123"))

    assert (error.retryable, error.status, error.code) == (False, 400, "21211")
    assert "Invalid 'To' Phone Number" in error.reason


async def test_429_is_retryable_with_retry_after(
    twilio: FakeTwilio, provider: TwilioProvider
) -> None:
    twilio.fail_next(429, retry_after="3")

    error = await send_failing(provider)

    assert (error.retryable, error.status, error.retry_after, error.code) == (
        True,
        429,
        3.0,
        "20429",
    )


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retryable(
    twilio: FakeTwilio, provider: TwilioProvider, status: int
) -> None:
    twilio.fail_next(status, count=2)

    for _ in range(2):
        assert (await send_failing(provider)).retryable
    await provider.send(SMS)
    assert len(twilio.accepted) == 1


async def test_an_unreadable_error_page_is_still_classified_by_status(
    twilio: FakeTwilio, provider: TwilioProvider
) -> None:
    twilio.fail_next(502, body=b"<html><h1>502 Bad Gateway</h1></html>", content_type="text/html")

    error = await send_failing(provider)

    assert (error.retryable, error.status, error.code) == (True, 502, None)
    assert "502 Bad Gateway" in error.reason


async def test_a_wrong_auth_token_is_not_retryable_and_never_shows(twilio: FakeTwilio) -> None:
    wrong = "wrong-auth-token-0123456789"
    provider = TwilioProvider(twilio.account_sid, wrong, FROM, base_url=twilio.url)
    try:
        error = await send_failing(provider)
    finally:
        await provider.close()

    assert (error.retryable, error.status, error.code) == (False, 401, "20003")
    assert_no_secret(error, wrong)


async def test_a_slow_answer_times_out_as_retryable(
    twilio: FakeTwilio, provider: TwilioProvider
) -> None:
    twilio.delay_next(1.0)

    error = await send_failing(provider)

    assert error.retryable
    assert "timed out" in error.reason


async def test_a_refused_connection_is_retryable(closed_port_url: str) -> None:
    provider = TwilioProvider("AC" + "1" * 32, "token-0123", FROM, base_url=closed_port_url)
    try:
        assert (await send_failing(provider)).retryable
    finally:
        await provider.close()


async def test_a_queued_sms_with_a_garbled_answer_counts_as_sent_without_an_id(
    twilio: FakeTwilio, provider: TwilioProvider
) -> None:
    twilio.malform_next(201)

    assert await provider.send(SMS) == Sent("twilio", None)


def test_signature_matches_twilios_published_example() -> None:
    assert twilio_signature("12345", VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIGNATURE
    assert verify_twilio_signature("12345", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)


def test_signature_over_repeated_parameters_sorts_their_distinct_values() -> None:
    repeated = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]

    assert verify_twilio_signature("12345", VECTOR_URL, repeated, "IK+Dwps556ElfBT0I3Rgjkr1wJU=")


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("54321", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE),
        ("12345", VECTOR_URL + "&extra=1", VECTOR_PARAMS, VECTOR_SIGNATURE),
        ("12345", VECTOR_URL, {**VECTOR_PARAMS, "Digits": "9999"}, VECTOR_SIGNATURE),
        ("12345", VECTOR_URL, VECTOR_PARAMS, ""),
        ("12345", VECTOR_URL, VECTOR_PARAMS, "invalid 王"),
    ],
)
def test_signature_check_refuses_any_change(
    token: str, url: str, params: dict[str, str], signature: str
) -> None:
    assert not verify_twilio_signature(token, url, params, signature)


def test_signature_check_accepts_the_url_with_or_without_the_default_port() -> None:
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    signed_with_port = twilio_signature("12345", with_port, VECTOR_PARAMS)

    assert verify_twilio_signature("12345", VECTOR_URL, VECTOR_PARAMS, signed_with_port)
    assert verify_twilio_signature("12345", with_port, VECTOR_PARAMS, VECTOR_SIGNATURE)


async def test_status_callback_from_the_fake_verifies(
    twilio: FakeTwilio, callbacks: CallbackReceiver
) -> None:
    callback_url = callbacks.url + CALLBACK_PATH
    provider = TwilioProvider(
        twilio.account_sid,
        twilio.auth_token,
        FROM,
        base_url=twilio.url,
        status_callback=callback_url,
    )
    try:
        sent = await provider.send(SMS)
    finally:
        await provider.close()
    assert sent.message_id is not None

    answer = await twilio.status_callback(sent.message_id, "delivered")

    assert answer.status_code == 204
    [request] = callbacks.requests
    form = request.form()
    assert (form["MessageSid"], form["MessageStatus"]) == (sent.message_id, "delivered")
    signature = request.headers["x-twilio-signature"]
    assert verify_twilio_signature(twilio.auth_token, callback_url, form, signature)
    assert not verify_twilio_signature("another-token", callback_url, form, signature)
