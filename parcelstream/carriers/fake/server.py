"""Making and running a fake carrier: from options to an app, served by uvicorn in the
foreground (the CLI) or on a free loopback port in a background thread (tests)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx2
import uvicorn

from parcelstream.carriers.fake.admin import build_app
from parcelstream.carriers.fake.base import FakeCarrier, FakeClock, Fault, PushOptions
from parcelstream.carriers.fake.fedex import FakeFedex
from parcelstream.carriers.fake.journeys import generate_journey, read_scenario
from parcelstream.carriers.fake.ups import FakeUps
from parcelstream.carriers.fake.usps import FakeUsps

FAKES: dict[str, type[FakeCarrier]] = {"ups": FakeUps, "fedex": FakeFedex, "usps": FakeUsps}


@dataclass
class FakeOptions:
    client_id: str = "fake-client"
    client_secret: str = "fake-secret"
    scenario: Path | None = None
    journeys: tuple[str, ...] = ()
    """Tracking numbers to make up journeys for."""
    scale: float = 0.0
    """Journey seconds per real second (0: time moves only when told to)."""
    start: datetime | None = None
    token_lifetime: float | None = None
    subscription_seconds: float = 14 * 86_400
    require_subscription: bool = False
    not_found_as_warning: bool = False
    push: PushOptions | None = None
    faults: tuple[str, ...] = ()


def build_fake(carrier: str, options: FakeOptions) -> FakeCarrier:
    journeys = read_scenario(options.scenario, carrier) if options.scenario else []
    start = options.start
    if start is None:
        first = min((j.events[0].at for j in journeys if j.events), default=None)
        start = first - timedelta(minutes=1) if first else datetime.now(UTC)
    fake = FAKES[carrier](
        client_id=options.client_id,
        client_secret=options.client_secret,
        clock=FakeClock(start, options.scale),
        push=options.push,
        token_lifetime=options.token_lifetime,
        subscription_seconds=options.subscription_seconds,
        require_subscription=options.require_subscription,
        not_found_as_warning=options.not_found_as_warning,
    )
    for journey in journeys:
        fake.add_journey(journey)
    for number in options.journeys:
        fake.add_journey(generate_journey(number, carrier, start + timedelta(minutes=1)))
    for text in options.faults:
        apply_fault(fake, text)
    return fake


def apply_fault(fake: FakeCarrier, text: str) -> None:
    """`--fail` forms: ROUTE:429[:N][:retry_after=S], ROUTE:500[:N], ROUTE:slow=S[:N],
    ROUTE:malformed[:N] (ROUTE: track, token or subscribe; N a count, default 1, or `always`),
    push:duplicate, push:reorder."""
    route, _, rest = text.partition(":")
    parts = rest.split(":") if rest else []
    if route == "push":
        fake.push.duplicate |= "duplicate" in parts
        fake.push.reorder |= "reorder" in parts
        return
    if route not in ("track", "token", "subscribe") or not parts:
        raise ValueError(f"--fail {text!r}: expected e.g. track:429, track:slow=2, push:reorder")
    kind = parts[0]
    count: int | None = 1
    fault = Fault()
    for extra in parts[1:]:
        if extra.startswith("retry_after="):
            fault.retry_after = extra.split("=", 1)[1]
        else:
            try:
                count = None if extra == "always" else int(extra)
            except ValueError:
                raise ValueError(f"--fail {text!r}: {extra!r} is not a count") from None
    if kind.isdigit():
        fault.status = int(kind)
    elif kind.startswith("slow="):
        fault.delay = float(kind.split("=", 1)[1])
    elif kind == "malformed":
        fault.malformed = True
    else:
        raise ValueError(f"--fail {text!r}: unknown fault {kind!r}")
    fake.add_fault(route, fault, count)


def serve(fake: FakeCarrier, host: str, port: int) -> None:
    uvicorn.run(build_app(fake), host=host, port=port, log_level="warning", access_log=False)


class RunningFake:
    """A fake on a free loopback port in a background thread, with a small admin client."""

    def __init__(self, fake: FakeCarrier) -> None:
        self.fake = fake
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(self.fake), log_level="warning", access_log=False, timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"fake-{self.fake.carrier}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fake {self.fake.carrier} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def admin(self, method: str, path: str, body: object = None) -> object:
        response = httpx2.request(method, f"{self.url}/_fake/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()
