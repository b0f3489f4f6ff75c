"""What every fake provider server shares: a Starlette app served by uvicorn on a free loopback
port in a background thread, a record of what it received, and injected faults.

A background thread rather than an asyncio task: the fake then answers while the test's own loop
is busy or blocked, and one fake serves sync and async tests alike.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived: header names lower-cased, the body as raw bytes."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass(frozen=True, slots=True)
class Accepted:
    """A message the fake took, as the real provider would have: its id and its content (the
    JSON payload, the form fields, the FCM message or the webhook's parsed body)."""

    id: str
    content: dict[str, Any]
    received: Received


@dataclass(frozen=True, slots=True)
class Fault:
    status: int | None
    """The status to answer with; None answers normally (after `delay`)."""
    delay: float = 0.0
    retry_after: str | None = None
    body: bytes | None = None
    """None: the provider's own error body for `status`."""
    content_type: str = "application/json"


Handler = Callable[[Received], Awaitable[Response]]


@dataclass
class _Faults:
    queues: dict[str, deque[Fault]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, route: str, fault: Fault, count: int) -> None:
        with self.lock:
            self.queues.setdefault(route, deque()).extend([fault] * count)

    def take(self, route: str) -> Fault | None:
        with self.lock:
            queue = self.queues.get(route)
            return queue.popleft() if queue else None


class FakeServer:
    """Subclasses list their routes (`_routes`) and the provider's error body (`_error_body`)."""

    main_route = "send"

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.accepted: list[Accepted] = []
        self.problems: list[str] = []
        """What the real provider would have refused: wrong auth, a malformed payload."""
        self._faults = _Faults()
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            Starlette(routes=self._routes()),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what tests call --------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        count: int = 1,
        *,
        retry_after: str | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        route: str | None = None,
    ) -> None:
        """Answer the next `count` requests on `route` (default: the send route) with `status`
        and the provider's error body, or `body` when given."""
        fault = Fault(status, retry_after=retry_after, body=body, content_type=content_type)
        self._faults.add(route or self.main_route, fault, count)

    def delay_next(self, seconds: float, count: int = 1, *, route: str | None = None) -> None:
        """Answer the next `count` requests normally, but only after `seconds`: a timeout for a
        client that waits less."""
        self._faults.add(route or self.main_route, Fault(None, delay=seconds), count)

    def malform_next(self, status: int, count: int = 1, *, route: str | None = None) -> None:
        """Answer the next `count` requests with a success `status` and a body that is not the
        provider's JSON (a proxy's HTML page, a truncated answer)."""
        fault = Fault(status, body=b"<html>upstream hiccup", content_type="text/html")
        self._faults.add(route or self.main_route, fault, count)

    def reset(self) -> None:
        """Forget what was received and the faults not yet used; keep running."""
        self.requests.clear()
        self.accepted.clear()
        self.problems.clear()
        with self._faults.lock:
            self._faults.queues.clear()

    async def wait_for(self, count: int, within: float = 5.0) -> list[Accepted]:
        """The accepted messages once there are at least `count` (for tests where the send
        happens in the background)."""
        deadline = time.monotonic() + within
        while len(self.accepted) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{type(self).__name__} accepted {len(self.accepted)} of {count} messages; "
                    f"problems: {self.problems}"
                )
            await asyncio.sleep(0.01)
        return list(self.accepted)

    # --- for subclasses ---------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        raise NotImplementedError

    def _error_body(self, route: str, status: int) -> bytes:
        raise NotImplementedError

    def _route(self, path: str, name: str, handler: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            received = Received(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=await request.body(),
                at=time.time(),
            )
            self.requests.append(received)
            fault = self._faults.take(name)
            if fault is not None:
                await self._sleep(fault.delay)
                if fault.status is not None:
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                    body = fault.body
                    if body is None:
                        body = self._error_body(name, fault.status)
                    return Response(body, fault.status, headers, media_type=fault.content_type)
            return await handler(received)

        return Route(path, endpoint, methods=["POST"], name=name)

    def _refuse(self, problem: str, status: int, body: dict[str, Any]) -> Response:
        self.problems.append(problem)
        return json_response(body, status)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            # Waiting on the stop event, so stop() does not wait out a long injected delay.
            await asyncio.to_thread(self._stopping.wait, seconds)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers, media_type="application/json")
