"""Estimated delivery end to end, in-process: scans -> processor -> EDD worker -> the tracking
document, embedded and scaled out (PostgreSQL + Redis + NATS), and the estimate-changed event
reaching a webhook subscriber through the notifier."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from redis import Redis
from starlette.testclient import TestClient

from parcelstream.api.app import create_app
from parcelstream.settings import Settings
from tests.backends.postgres import create_database, drop_database
from tests.backends.redis import shared_redis_url
from tests.integration.conftest import Api, make_keys
from tests.providers.fakes import FakeWebhookReceiver

TN = "1Z5R89390357567127"
PACKAGE = {
    "tracking_number": TN,
    "service_type": "NEXT_DAY_AIR",
    "origin": {"city": "Atlanta", "region": "GA", "postal_code": "30301", "country": "US"},
    "destination": {"city": "Seattle", "region": "WA", "postal_code": "98101", "country": "US"},
}


def scan(code: str, hours_ago: float, facility: str = "ATL-HUB-01") -> dict[str, Any]:
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - hours_ago * 3600))
    return {
        "tracking_number": TN,
        "facility_id": facility,
        "timestamp": at,
        "status_code": code,
        "location": {"city": "Atlanta", "region": "GA", "country": "US"},
    }


@contextlib.contextmanager
def scaled_out(tmp_path: Path) -> Iterator[Settings]:
    url = asyncio.run(create_database())
    stream = f"PSETA_{uuid.uuid4().hex[:10].upper()}"
    prefix = f"ps-test:{uuid.uuid4().hex}:"
    try:
        yield Settings(
            data_dir=tmp_path / "data",
            signing_secret="test-" + uuid.uuid4().hex,
            database_url=url,
            log_url=f"nats://127.0.0.1:4222?stream={stream}",
            redis_url=f"{shared_redis_url()}?prefix={prefix}",
        )
    finally:
        asyncio.run(drop_database(url))
        asyncio.run(_delete_stream(stream))
        client = Redis.from_url(shared_redis_url())
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


async def _delete_stream(stream: str) -> None:
    connection = await nats.connect("nats://127.0.0.1:4222")
    try:
        with contextlib.suppress(Exception):
            await connection.jetstream().delete_stream(stream)
    finally:
        await connection.close()


@pytest.fixture(params=["embedded", "postgres+redis+nats"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "embedded":
        yield Settings(data_dir=tmp_path / "data")
        return
    with scaled_out(tmp_path) as found:
        yield found


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    keys = make_keys(settings)
    with TestClient(create_app(settings, with_processor=True)) as client:
        yield Api(client, keys)


def test_the_tracking_document_shows_an_estimate_with_its_source_and_keeps_it(
    api: Api, settings: Settings
) -> None:
    assert api.post("/v1/packages", PACKAGE, scope="packages:write").status_code == 202
    assert (
        api.post("/v1/scans", {"scans": [scan("PICKED_UP", 2)]}, scope="scans:write").status_code
        == 200
    )
    document = api.wait_for(TN, lambda d: d["estimated_delivery"] is not None)
    shown = document["estimated_delivery"]
    assert shown["source"] == "service_level"  # nothing delivered yet to learn from
    assert shown["time_zone"] == "America/Los_Angeles"
    assert shown["confidence"] == 0.8
    assert shown["earliest"] <= shown["latest"]
    assert shown["earliest"][-6:] in ("-08:00", "-07:00")
    assert shown["original"] == {
        "date": shown["date"],
        "earliest": shown["earliest"],
        "latest": shown["latest"],
        "source": "service_level",
    }

    # the processor renders the document again for the next scan: the estimate stays in it
    assert (
        api.post(
            "/v1/scans", {"scans": [scan("DEPARTED_FACILITY", 1)]}, scope="scans:write"
        ).status_code
        == 200
    )
    again = api.wait_for(TN, lambda d: len(d["events"]) == 2)
    assert again["estimated_delivery"] is not None
    assert again["estimated_delivery"]["original"] == shown["original"]

    if settings.redis_url:
        # the lookup is answered from Redis, and Redis holds the patched document
        prefix = settings.redis_url.split("prefix=")[1]
        client = Redis.from_url(shared_redis_url())
        try:
            deadline = time.monotonic() + 5
            while True:
                body = client.hget(f"{prefix}doc:{TN}", "b")
                if body is not None and b'"estimated_delivery":{' in body and b"DEPARTED" in body:
                    break
                assert time.monotonic() < deadline, body
                time.sleep(0.05)
        finally:
            client.close()

    # delivered: the delivery is the answer, no estimate is shown
    assert (
        api.post(
            "/v1/scans", {"scans": [scan("DELIVERED", 0.5, "SEA-DS-01")]}, scope="scans:write"
        ).status_code
        == 200
    )
    delivered = api.wait_for(TN, lambda d: d["status"] == "DELIVERED")
    assert delivered["estimated_delivery"] is None
    time.sleep(0.3)  # the EDD worker's pass over the delivery leaves it so
    assert api.track(TN).json()["estimated_delivery"] is None


@pytest.fixture(scope="module")
def receiver() -> Iterator[FakeWebhookReceiver]:
    server = FakeWebhookReceiver()
    server.start()
    yield server
    server.stop()


def test_a_moved_estimate_reaches_a_webhook_subscriber_who_asked_for_it(
    api: Api, receiver: FakeWebhookReceiver
) -> None:
    receiver.reset()
    assert api.post("/v1/packages", PACKAGE, scope="packages:write").status_code == 202
    hook = api.post(
        "/v1/notifications/subscribe",
        {
            "tracking_number": TN,
            "channel": "webhook",
            "address": receiver.url + "/hooks/estimates",
            "milestones": ["ESTIMATE_CHANGED"],
        },
        scope="packages:write",
    )
    assert hook.status_code == 201, hook.text
    receiver.secret = hook.json()["secret"]

    # a label made three days ago: its next-day promise has passed, so today is the estimate
    api.post("/v1/scans", {"scans": [scan("LABEL_CREATED", 72)]}, scope="scans:write")
    first = api.wait_for(TN, lambda d: d["estimated_delivery"] is not None)["estimated_delivery"]
    # picked up only now: the promise counts from now, a later day
    api.post("/v1/scans", {"scans": [scan("PICKED_UP", 0.1)]}, scope="scans:write")
    moved = api.wait_for(
        TN,
        lambda d: (
            d["estimated_delivery"] is not None and d["estimated_delivery"]["date"] != first["date"]
        ),
    )["estimated_delivery"]
    assert moved["original"]["date"] == first["date"]

    deadline = time.monotonic() + 10
    while not receiver.accepted:
        assert time.monotonic() < deadline, "the estimate-changed event never arrived"
        time.sleep(0.05)
    (event,) = [a.content for a in receiver.accepted]
    assert event["type"] == "tracking.estimate_changed"
    assert event["tracking_number"] == TN
    assert event["estimated_delivery"]["date"] == moved["date"]
    # only what was asked for: no PICKED_UP milestone went to this subscriber
    time.sleep(0.3)
    assert len(receiver.accepted) == 1
