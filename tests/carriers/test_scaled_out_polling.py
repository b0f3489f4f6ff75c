"""Scaled out: two pollers (the server's own and a `parcelstream poller` process) share one
PostgreSQL schedule and one NATS stream, and between them follow every package to delivery."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import nats
import pytest

from parcelstream.carriers.fake.server import FakeOptions, RunningFake, build_fake
from tests.backends.nats import SERVER_URL as NATS_URL
from tests.backends.postgres import create_database, drop_database
from tests.carriers.harness import API_ID, API_SECRET, SCALE, LiveApp, settings_for
from tests.e2e.harness import child_env

pytestmark = pytest.mark.slow

START = "2026-11-16T09:00:00-05:00"
NUMBERS = [
    "390996030824", "757491186252", "507529170342", "018263304348", "242731672326",
    "864920831240", "701687731322", "926030926002", "618365461073", "607104319554",
]  # fmt: skip


@pytest.fixture
def scaled_out() -> Iterator[dict[str, str]]:
    stream = f"PSPOLL_{uuid.uuid4().hex[:12].upper()}"
    database = asyncio.run(create_database())
    try:
        yield {
            "database_url": database,
            "log_url": f"{NATS_URL}?stream={stream}&ack_wait=3",
            "signing_secret": "poll-" + uuid.uuid4().hex,
        }
    finally:
        asyncio.run(drop_database(database))
        asyncio.run(_delete_streams(stream))


async def _delete_streams(stream: str) -> None:
    connection = await nats.connect(NATS_URL)
    try:
        for name in (stream, f"{stream}_DEAD"):
            with contextlib.suppress(Exception):
                await connection.jetstream().delete_stream(name)
    finally:
        await connection.close()


def test_two_pollers_share_the_schedule_and_deliver_every_package(
    tmp_path: Path, scaled_out: dict[str, str]
) -> None:
    options = FakeOptions(
        client_id=API_ID, client_secret=API_SECRET, start=datetime.fromisoformat(START)
    )
    fake = RunningFake(build_fake("fedex", options)).start()
    settings = settings_for(
        tmp_path / "app", "fedex", push=False, poll=True, fake_url=fake.url, **scaled_out
    )
    env = {
        **child_env(),
        "PARCELSTREAM_DATABASE_URL": scaled_out["database_url"],
        "PARCELSTREAM_LOG_URL": scaled_out["log_url"],
        "PARCELSTREAM_SIGNING_SECRET": scaled_out["signing_secret"],
        "PARCELSTREAM_FEDEX_API_URL": settings.fedex_api_url or "",
        "PARCELSTREAM_POLL_INTERVAL_SCALE": str(SCALE),
    }
    log_path = tmp_path / "poller.log"
    with log_path.open("wb") as log:
        poller = subprocess.Popen(
            [sys.executable, "-m", "parcelstream.cli", "poller", "--data", str(tmp_path / "poller")],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    app = LiveApp(settings)
    try:
        deadline = time.monotonic() + 20
        while "poller running" not in log_path.read_text():
            assert poller.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        with app:
            times: dict[str, list[datetime]] = {}
            for tn in NUMBERS:
                answer = fake.admin("POST", "journeys", {"tracking_number": tn, "start": START})
                assert isinstance(answer, dict)
                times[tn] = [datetime.fromisoformat(e["timestamp"]) for e in answer["events"]]
                app.register(tn, "fedex")
            middle = datetime.fromisoformat(START) + timedelta(hours=20)
            fake.admin("POST", "clock", {"to": middle.isoformat()})
            for tn in NUMBERS:
                due = sum(1 for t in times[tn] if t <= middle)
                app.wait_for(tn, lambda d, due=due: len(d["events"]) == due, within=20)
            fake.admin("POST", "clock", {"to": max(t[-1] for t in times.values()).isoformat()})
            for tn in NUMBERS:
                document = app.wait_for(tn, lambda d: d["status"] == "DELIVERED", within=20)
                assert len(document["events"]) == 9
        assert len(fake.fake.stats.track_tokens) >= 2, "only one poller ever polled"
    finally:
        poller.terminate()
        assert poller.wait(timeout=20) == 0, log_path.read_text()
        fake.stop()
