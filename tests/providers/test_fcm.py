"""FcmProvider against a local FCM HTTP v1 API and the OAuth2 token endpoint in front of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from parcelstream.notify.providers.base import Message, ProviderError, Sent
from parcelstream.notify.providers.fcm import FcmProvider
from tests.providers.checks import SHORT, assert_no_secret
from tests.providers.fakes import FakeFcm

PUSH = Message(
    channel="push",
    to="dGVzdC1kZXZpY2UtdG9rZW4:APA91bH-fake",
    event_id="evt-1z999-dlv-1-sub-9",
    title="Delivered",
    text="Your parcel was left at the front door.",
    data={"tracking_number": "1Z999AA10123456784", "status": "DELIVERED"},
)


@pytest.fixture
async def provider(fcm: FakeFcm) -> AsyncIterator[FcmProvider]:
    provider = FcmProvider(fcm.project_id, fcm.service_account, base_url=fcm.url, timeout=SHORT)
    yield provider
    await provider.close()


async def send_failing(provider: FcmProvider, message: Message = PUSH) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.send(message)
    return caught.value


async def test_send_gets_a_token_with_a_signed_jwt_then_posts_the_v1_message(
    fcm: FakeFcm, provider: FcmProvider
) -> None:
    sent = await provider.send(PUSH)

    assert fcm.problems == []
    [grant] = fcm.token_grants
    assert grant["iss"] == fcm.client_email
    assert grant["aud"] == fcm.token_uri
    assert grant["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert grant["exp"] - grant["iat"] == 3600
    [push] = fcm.accepted
    assert sent == Sent("fcm", push.id)
    assert push.id.startswith(f"projects/{fcm.project_id}/messages/")
    assert push.content == {
        "token": PUSH.to,
        "notification": {"title": "Delivered", "body": "Your parcel was left at the front door."},
        "data": {"tracking_number": "1Z999AA10123456784", "status": "DELIVERED"},
    }


async def test_the_access_token_is_reused_across_sends(fcm: FakeFcm, provider: FcmProvider) -> None:
    await asyncio.gather(*(provider.send(replace(PUSH, event_id=f"e{i}")) for i in range(5)))

    assert len(fcm.token_grants) == 1
    assert len(fcm.accepted) == 5


async def test_a_token_near_expiry_is_renewed_before_use(
    fcm: FakeFcm, provider: FcmProvider
) -> None:
    fcm.token_lifetime = 1  # renewed after half its life, when under the one-minute margin

    await provider.send(PUSH)
    await asyncio.sleep(0.6)
    await provider.send(PUSH)

    assert len(fcm.token_grants) == 2
    assert fcm.problems == []


async def test_a_revoked_token_is_replaced_once_and_the_send_succeeds(
    fcm: FakeFcm, provider: FcmProvider
) -> None:
    await provider.send(PUSH)
    fcm.revoke_tokens()

    await provider.send(PUSH)

    assert len(fcm.token_grants) == 2
    assert len(fcm.accepted) == 2


async def test_an_unregistered_device_token_is_not_retryable_and_says_unregistered(
    fcm: FakeFcm, provider: FcmProvider
) -> None:
    fcm.unregistered.add(PUSH.to)

    error = await send_failing(provider)

    assert (error.retryable, error.status, error.code) == (False, 404, "UNREGISTERED")


async def test_a_message_fcm_refuses_is_not_retryable(fcm: FakeFcm, provider: FcmProvider) -> None:
    fcm.fail_next(400)

    error = await send_failing(provider)

    assert (error.retryable, error.status, error.code) == (False, 400, "INVALID_ARGUMENT")


async def test_quota_exceeded_is_retryable_with_retry_after(
    fcm: FakeFcm, provider: FcmProvider
) -> None:
    fcm.fail_next(429, retry_after="30")

    error = await send_failing(provider)

    assert (error.retryable, error.status, error.retry_after, error.code) == (
        True,
        429,
        30.0,
        "QUOTA_EXCEEDED",
    )


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retryable(
    fcm: FakeFcm, provider: FcmProvider, status: int
) -> None:
    fcm.fail_next(status)

    assert (await send_failing(provider)).retryable


async def test_a_token_endpoint_outage_is_retryable(fcm: FakeFcm, provider: FcmProvider) -> None:
    fcm.fail_next(503, route="token")

    error = await send_failing(provider)

    assert (error.retryable, error.status) == (True, 503)
    assert fcm.accepted == []


async def test_a_token_endpoint_answer_without_a_token_is_retryable(
    fcm: FakeFcm, provider: FcmProvider
) -> None:
    fcm.malform_next(200, route="token")

    error = await send_failing(provider)

    assert error.retryable
    await provider.send(PUSH)
    assert len(fcm.accepted) == 1


async def test_a_key_google_does_not_know_is_not_retryable_and_no_key_material_shows(
    fcm: FakeFcm,
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    provider = FcmProvider(
        fcm.project_id, {**fcm.service_account, "private_key": pem}, base_url=fcm.url
    )
    try:
        error = await send_failing(provider)
    finally:
        await provider.close()

    assert (error.retryable, error.status, error.code) == (False, 400, "invalid_grant")
    assert_no_secret(error, pem, pem.splitlines()[1])
    assert fcm.accepted == []


async def test_a_slow_answer_times_out_as_retryable(fcm: FakeFcm, provider: FcmProvider) -> None:
    await provider.send(PUSH)
    fcm.delay_next(1.0)

    error = await send_failing(provider)

    assert error.retryable
    assert "timed out" in error.reason


async def test_a_refused_connection_is_retryable(fcm: FakeFcm, closed_port_url: str) -> None:
    provider = FcmProvider(
        fcm.project_id, {**fcm.service_account, "token_uri": closed_port_url + "/token"}
    )
    try:
        assert (await send_failing(provider)).retryable
    finally:
        await provider.close()


async def test_a_garbled_success_counts_as_sent_without_a_name(
    fcm: FakeFcm, provider: FcmProvider
) -> None:
    fcm.malform_next(200)

    assert await provider.send(PUSH) == Sent("fcm", None)


async def test_data_only_and_title_only_pushes_carry_just_those_parts(
    fcm: FakeFcm, provider: FcmProvider
) -> None:
    await provider.send(replace(PUSH, title=None, text=""))
    await provider.send(replace(PUSH, text="", data={}))

    data_only, title_only = (push.content for push in fcm.accepted)
    assert data_only == {"token": PUSH.to, "data": dict(PUSH.data)}
    assert title_only == {"token": PUSH.to, "notification": {"title": "Delivered"}}
    assert fcm.problems == []


async def test_an_empty_push_is_refused_without_a_request(
    fcm: FakeFcm, provider: FcmProvider
) -> None:
    error = await send_failing(provider, replace(PUSH, title=None, text="", data={}))

    assert not error.retryable
    assert fcm.requests == []


def test_a_service_account_without_a_private_key_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="private_key"):
        FcmProvider("p", {"client_email": "a@p.iam.gserviceaccount.com"})
