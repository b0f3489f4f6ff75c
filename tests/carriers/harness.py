"""Our server and fake carriers side by side for the carrier tests: the app (API, processor,
poller) served by uvicorn on a loopback port in a thread, a fake carrier that pushes to it and/or
is polled by it, and a way to walk a journey event by event."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx2
import uvicorn

from parcelstream.api.app import create_app
from parcelstream.carriers.fake.base import PushOptions
from parcelstream.carriers.fake.server import FakeOptions, RunningFake, build_fake
from parcelstream.settings import Settings
from tests.integration.conftest import make_keys

NUMBERS = {"ups": "1Z7E4A920341208571", "fedex": "782901654316", "usps": "9400111899224315768204"}
API_ID, API_SECRET = "ps-api-client", "ps-api-secret"
UPS_PUSH_ID, UPS_PUSH_SECRET = "ups-push-client", "ups-push-secret-0123456789"
FEDEX_TOKEN = "FedexSecurityToken2026abcXYZ"
USPS_SECRET = "UspsSecret0123456789ABCDEFGHIJKL"
SCALE = 1 / 36_000
"""Polling runs ten hours a second: in transit every 0.1 s, out for delivery every 0.025 s."""


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class LiveApp:
    """parcelstream's app (with processor and poller) on a loopback port in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = make_keys(settings)
        self._sock = free_socket()
        self.port = self._sock.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.client = httpx2.Client(base_url=self.url, timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        config = uvicorn.Config(
            create_app(self.settings, with_processor=True),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.client.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def register(self, tracking_number: str, carrier: str) -> None:
        response = self.client.post(
            "/v1/packages",
            json={"tracking_number": tracking_number, "carrier": carrier, "service_type": "GROUND"},
            headers={"Authorization": f"Bearer {self.keys['packages:write']}"},
        )
        assert response.status_code in (200, 201, 202), response.text

    def track(self, tracking_number: str) -> dict[str, Any] | None:
        response = self.client.get(f"/v1/track/{tracking_number}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    def wait_for(
        self, tracking_number: str, until: Callable[[dict[str, Any]], bool], within: float = 10.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            document = self.track(tracking_number)
            if document is not None and until(document):
                return document
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{tracking_number} at {self.url} never got there; last: {document}"
                )
            time.sleep(0.02)


def settings_for(
    data: Path,
    carrier: str,
    *,
    push: bool,
    poll: bool,
    fake_url: str | None = None,
    subscribe: bool = False,
    budget: str = "rate=1000&burst=100&daily=0&concurrency=4",
    **more: Any,
) -> Settings:
    values: dict[str, Any] = {"data_dir": data, "poll_interval_scale": SCALE, **more}
    if poll:
        assert fake_url is not None
        host = fake_url.removeprefix("http://")
        values[f"{carrier}_api_url"] = f"http://{API_ID}:{API_SECRET}@{host}?{budget}" + (
            "&subscribe=true" if subscribe else ""
        )
    if push:
        if carrier == "ups":
            values |= {
                "ups_webhook_client_id": UPS_PUSH_ID,
                "ups_webhook_client_secrets": UPS_PUSH_SECRET,
            }
        elif carrier == "fedex":
            values["fedex_webhook_secrets"] = FEDEX_TOKEN
        else:
            values["usps_webhook_secrets"] = USPS_SECRET
    return Settings(**values)


def push_options(carrier: str, app_url: str) -> PushOptions:
    return PushOptions(
        webhook_url=f"{app_url}/v1/webhooks/carrier/{carrier}",
        secret={"fedex": FEDEX_TOKEN, "usps": USPS_SECRET}.get(carrier),
        token_url=f"{app_url}/v1/webhooks/carrier/ups/oauth/token",
        client_id=UPS_PUSH_ID,
        client_secret=UPS_PUSH_SECRET,
        retry_interval=0.2,
    )


@dataclass
class Pair:
    """One of our servers and the fake carrier it talks to."""

    mode: str
    app: LiveApp
    fake: RunningFake


def start_pair(
    tmp: Path, carrier: str, mode: str, *, options: FakeOptions | None = None, **settings: Any
) -> Pair:
    """mode: "push" (the fake pushes, nobody polls), "poll" (no pushes), "both"."""
    fake = RunningFake(
        build_fake(
            carrier,
            options or FakeOptions(client_id=API_ID, client_secret=API_SECRET),
        )
    ).start()
    config = settings_for(
        tmp / mode,
        carrier,
        push=mode in ("push", "both"),
        poll=mode in ("poll", "both"),
        fake_url=fake.url,
        **settings,
    )
    app = LiveApp(config).start()
    if mode in ("push", "both"):
        fake.fake.push = push_options(carrier, app.url)
    return Pair(mode, app, fake)


def journey(pair: Pair, tracking_number: str, start: str) -> list[dict[str, Any]]:
    answer = pair.fake.admin(
        "POST", "journeys", {"tracking_number": tracking_number, "start": start}
    )
    assert isinstance(answer, dict)
    events: list[dict[str, Any]] = answer["events"]
    return events


def history(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The events of a tracking document, as comparable tuples (newest first)."""
    return [
        (
            e["timestamp"],
            e["status_code"],
            e.get("status"),
            e.get("facility_id"),
            repr(e.get("location")),
            e.get("description"),
        )
        for e in document["events"]
    ]
