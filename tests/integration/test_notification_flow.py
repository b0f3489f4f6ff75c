"""Milestone notifications end to end, in-process, on the embedded and the PostgreSQL + NATS back
ends: scans in, provider calls out (to local servers speaking SendGrid, Twilio, FCM and webhook),
once per occurrence and subscription, with retries, dead letters, receipts and unsubscribe links.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import nats
import pytest
from starlette.testclient import TestClient

from parcelstream.api.app import create_app
from parcelstream.notify.providers.twilio import twilio_signature
from parcelstream.settings import Settings
from tests.backends.postgres import create_database, drop_database
from tests.integration.conftest import make_keys
from tests.providers.fakes import FakeFcm, FakeSendGrid, FakeTwilio, FakeWebhookReceiver

TN = "1Z5R89390357567127"
PUBLIC_URL = "http://parcels.test"
DEVICE = "fcm-device-token-0123456789abcdef"


class Fakes:
    def __init__(self) -> None:
        self.sendgrid = FakeSendGrid()
        self.twilio = FakeTwilio()
        self.fcm = FakeFcm()
        self.webhook = FakeWebhookReceiver()

    def all(self) -> list[Any]:
        return [self.sendgrid, self.twilio, self.fcm, self.webhook]


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    servers = Fakes()
    for server in servers.all():
        server.start()
    yield servers
    for server in servers.all():
        server.stop()


@pytest.fixture(params=["embedded", "postgres+nats"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, fakes: Fakes) -> Iterator[Settings]:
    for server in fakes.all():
        server.reset()
    account = tmp_path / "firebase.json"
    account.write_text(json.dumps(fakes.fcm.service_account))
    common: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "public_url": PUBLIC_URL,
        "signing_secret": "test-" + uuid.uuid4().hex,
        "notify_backoff_seconds": 0.05,
        "sendgrid_api_key": fakes.sendgrid.api_key,
        "sendgrid_base_url": fakes.sendgrid.url,
        "email_from": "Parcels <tracking@parcels.test>",
        "twilio_account_sid": fakes.twilio.account_sid,
        "twilio_auth_token": fakes.twilio.auth_token,
        "twilio_from": "+15005550006",
        "twilio_base_url": fakes.twilio.url,
        "fcm_project_id": fakes.fcm.project_id,
        "fcm_service_account_file": account,
        "fcm_base_url": fakes.fcm.url,
    }
    if request.param == "embedded":
        yield Settings(**common)
        return
    stream = f"PSNOTIFY_{uuid.uuid4().hex[:10].upper()}"
    with _database() as database_url:
        yield Settings(
            **common, database_url=database_url, log_url=f"nats://127.0.0.1:4222?stream={stream}"
        )
    asyncio.run(_delete_stream(stream))


@contextlib.contextmanager
def _database() -> Iterator[str]:
    url = asyncio.run(create_database())
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


async def _delete_stream(stream: str) -> None:
    connection = await nats.connect("nats://127.0.0.1:4222")
    try:
        with contextlib.suppress(Exception):
            await connection.jetstream().delete_stream(stream)
    finally:
        await connection.close()


class Shipper:
    def __init__(self, client: TestClient, keys: dict[str, str]) -> None:
        self.client = client
        self.keys = keys

    def post(self, path: str, body: Any, scope: str = "admin") -> httpx2.Response:
        headers = {"Authorization": f"Bearer {self.keys[scope]}"}
        return self.client.post(path, json=body, headers=headers)

    def scans(self, *scans: tuple[int, str] | tuple[int, str, str]) -> None:
        now = time.time()
        items = []
        for scan in scans:
            minutes_ago, code = scan[0], scan[1]
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - minutes_ago * 60))
            item = {
                "tracking_number": TN,
                "facility_id": "ATL-DS-7",
                "timestamp": at,
                "status_code": code,
                "location": {"city": "Atlanta", "region": "GA", "country": "US"},
            }
            if len(scan) == 3:
                item["exception_code"] = scan[2]
            items.append(item)
        response = self.post("/v1/scans", {"scans": items}, "scans:write")
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.text

    def deliveries(self) -> list[dict[str, Any]]:
        response = self.client.get(
            "/v1/notifications/deliveries",
            params={"tracking_number": TN},
            headers={"Authorization": f"Bearer {self.keys['admin']}"},
        )
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()["deliveries"]
        return result

    def wait(
        self, until: Callable[[list[dict[str, Any]]], bool], within: float = 15.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        while True:
            found = self.deliveries()
            if until(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"deliveries never settled: {json.dumps(found, indent=1)}")
            time.sleep(0.05)


@pytest.fixture
def shipper(settings: Settings) -> Iterator[Shipper]:
    keys = make_keys(settings)
    with TestClient(create_app(settings, with_processor=True)) as client:
        yield Shipper(client, keys)


def sent(deliveries: list[dict[str, Any]], count: int) -> bool:
    return sum(d["state"] == "sent" for d in deliveries) >= count


def test_every_channel_is_told_once_per_occurrence(shipper: Shipper, fakes: Fakes) -> None:
    registered = shipper.post(
        "/v1/packages",
        {
            "tracking_number": TN,
            "recipient": {"name": "Dana", "email": "dana@example.com", "phone": "+14045550199"},
        },
        "packages:write",
    )
    assert registered.status_code == 202
    push = shipper.client.post(
        "/v1/notifications/subscribe",
        json={
            "tracking_number": TN,
            "channel": "push",
            "address": DEVICE,
            "milestones": ["OUT_FOR_DELIVERY"],
        },
    )
    assert push.status_code == 201, push.text
    hook = shipper.post(
        "/v1/notifications/subscribe",
        {
            "tracking_number": TN,
            "channel": "webhook",
            "address": fakes.webhook.url + "/hooks/parcels",
        },
        "packages:write",
    )
    assert hook.status_code == 201, hook.text
    fakes.webhook.secret = hook.json()["secret"]

    shipper.scans((120, "PICKED_UP"), (30, "OUT_FOR_DELIVERY"))
    found = shipper.wait(lambda d: sent(d, 7))
    assert sorted((d["milestone"], d["channel"]) for d in found) == [
        ("OUT_FOR_DELIVERY", "email"),
        ("OUT_FOR_DELIVERY", "push"),
        ("OUT_FOR_DELIVERY", "sms"),
        ("OUT_FOR_DELIVERY", "webhook"),
        ("PICKED_UP", "email"),
        ("PICKED_UP", "sms"),
        ("PICKED_UP", "webhook"),
    ]
    assert all(d["provider_message_id"] for d in found)

    # What each provider received, in its own format.
    assert len(fakes.sendgrid.accepted) == 2
    [mail] = [a for a in fakes.sendgrid.accepted if "out for delivery" in a.content["subject"]]
    assert mail.content["personalizations"][0]["to"] == [{"email": "dana@example.com"}]
    html = next(c["value"] for c in mail.content["content"] if c["type"] == "text/html")
    assert "Dana" in html
    assert f"{PUBLIC_URL}/u/" in html
    sms = [a.content for a in fakes.twilio.accepted]
    assert {m["To"] for m in sms} == {"+14045550199"}
    assert len(sms) == 2
    for message in sms:
        assert len(message["Body"]) <= 160, message["Body"]
        assert f"{PUBLIC_URL}/v1/track/{TN}" in message["Body"]
        assert f"Stop: {PUBLIC_URL}/u/" in message["Body"]
    [message] = [a.content for a in fakes.fcm.accepted]
    assert message["token"] == DEVICE
    assert message["data"]["status"] == "OUT_FOR_DELIVERY"
    events = sorted(
        (a.content for a in fakes.webhook.accepted), key=lambda e: e["event"]["timestamp"]
    )
    assert [e["status"] for e in events] == ["PICKED_UP", "OUT_FOR_DELIVERY"]
    assert events[1]["tracking_number"] == TN
    assert events[1]["event"]["location"]["city"] == "Atlanta"
    assert not fakes.webhook.problems
    assert not fakes.sendgrid.problems

    # Resent scans and a late older scan change nothing: nobody hears twice.
    shipper.scans((120, "PICKED_UP"), (30, "OUT_FOR_DELIVERY"), (31, "OUT_FOR_DELIVERY"))
    time.sleep(1.0)
    assert len(shipper.deliveries()) == 7
    assert len(fakes.sendgrid.accepted) == 2
    assert not fakes.webhook.duplicates


def test_failures_are_retried_then_dead_lettered(shipper: Shipper, fakes: Fakes) -> None:
    for channel, address in (("email", "dana@example.com"), ("sms", "+14045550199")):
        response = shipper.client.post(
            "/v1/notifications/subscribe",
            json={"tracking_number": TN, "channel": channel, "address": address},
        )
        assert response.status_code == 201
    fakes.sendgrid.fail_next(429, count=1, retry_after="0")
    fakes.sendgrid.fail_next(503, count=1)
    fakes.twilio.fail_next(500, count=4)
    shipper.scans((10, "OUT_FOR_DELIVERY"))
    found = shipper.wait(lambda d: {x["state"] for x in d} == {"sent", "dead"})
    by_channel = {d["channel"]: d for d in found}
    assert (by_channel["email"]["state"], by_channel["email"]["attempts"]) == ("sent", 3)
    assert (by_channel["sms"]["state"], by_channel["sms"]["attempts"]) == ("dead", 4)
    assert "500" in by_channel["sms"]["last_error"]


def test_receipts_from_twilio_update_the_delivery(
    shipper: Shipper, fakes: Fakes, settings: Settings
) -> None:
    shipper.client.post(
        "/v1/notifications/subscribe",
        json={"tracking_number": TN, "channel": "sms", "address": "+14045550199"},
    )
    shipper.scans((10, "DELIVERED"))
    [delivery] = shipper.wait(lambda d: sent(d, 1))
    form = {"MessageSid": delivery["provider_message_id"], "MessageStatus": "delivered"}
    url = f"{PUBLIC_URL}/v1/notifications/callbacks/twilio"
    forged = shipper.client.post(
        "/v1/notifications/callbacks/twilio", data=form, headers={"X-Twilio-Signature": "bogus"}
    )
    assert forged.status_code == 401
    signature = twilio_signature(fakes.twilio.auth_token, url, form)
    ok = shipper.client.post(
        "/v1/notifications/callbacks/twilio", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert ok.status_code == 200
    assert ok.json() == {"matched": True}
    assert shipper.deliveries()[0]["receipt"] == "delivered"


def test_unsubscribing_stops_later_milestones(shipper: Shipper, fakes: Fakes) -> None:
    shipper.post(
        "/v1/packages",
        {"tracking_number": TN, "recipient": {"email": "dana@example.com", "notify": ["email"]}},
        "packages:write",
    )
    api_sub = shipper.client.post(
        "/v1/notifications/subscribe",
        json={"tracking_number": TN, "channel": "sms", "address": "+14045550199"},
    ).json()
    shipper.scans((60, "OUT_FOR_DELIVERY"))
    shipper.wait(lambda d: sent(d, 2))

    mail = fakes.sendgrid.accepted[0].content
    link = mail["headers"]["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{PUBLIC_URL}/u/")
    one_click = shipper.client.post(link.removeprefix(PUBLIC_URL))
    assert one_click.status_code == 200
    assert shipper.client.get(link.removeprefix(PUBLIC_URL) + "x").status_code == 404
    removed = shipper.client.delete(f"/v1/notifications/subscriptions/{api_sub['subscription_id']}")
    assert removed.status_code == 200

    shipper.scans((5, "DELIVERED"))
    time.sleep(1.0)
    assert [d["milestone"] for d in shipper.deliveries()] == ["OUT_FOR_DELIVERY"] * 2


def test_subscriptions_are_validated(shipper: Shipper) -> None:
    cases = [
        ({"channel": "email", "address": "not-an-address"}, "address"),
        ({"channel": "sms", "address": "555-0199"}, "address"),
        ({"channel": "push", "address": "x"}, "address"),
        ({"channel": "pigeon", "address": "x"}, "channel"),
    ]
    for body, field in cases:
        response = shipper.client.post(
            "/v1/notifications/subscribe", json={"tracking_number": TN, **body}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
    plain_http = shipper.post(
        "/v1/notifications/subscribe",
        {"tracking_number": TN, "channel": "webhook", "address": "http://shipper.example/hook"},
        "packages:write",
    )
    assert plain_http.status_code == 422
    no_key = shipper.client.post(
        "/v1/notifications/subscribe",
        json={
            "tracking_number": TN,
            "channel": "webhook",
            "address": "https://shipper.example/hook",
        },
    )
    assert no_key.status_code == 401
