"""A local HTTP server speaking `POST /v1/scans` as parcelstream does, for the client's tests.

It stores scans by their dedup key (so resends count as duplicates), refuses scans whose tracking
number starts with BAD, and can be scripted to fail the next requests: answer a status (with
headers), or drop the connection before or after storing the batch.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fail:
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)


DROP_BEFORE_STORING = "drop-before"
DROP_AFTER_STORING = "drop-after"


@dataclass
class FakeScanServer:
    key: str = "test-key"
    stored: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    batch_sizes: list[int] = field(default_factory=list)
    requests: int = 0
    script: deque[Fail | str] = field(default_factory=deque)
    max_batch: int = 5000
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, body: bytes) -> tuple[int, dict[str, Any], dict[str, str], str | None]:
        with self.lock:
            self.requests += 1
            action = self.script.popleft() if self.script else None
            if isinstance(action, Fail):
                return action.status, {"error": {"code": "busy"}}, action.headers, None
            if action == DROP_BEFORE_STORING:
                return 0, {}, {}, action
            scans = json.loads(body)["scans"]
            if len(scans) > self.max_batch:
                return 413, {"error": {"code": "batch_too_large"}}, {}, None
            self.batch_sizes.append(len(scans))
            accepted = duplicates = 0
            errors = []
            for index, scan in enumerate(scans):
                if scan["tracking_number"].startswith("BAD"):
                    errors.append(
                        {
                            "index": index,
                            "field": "tracking_number",
                            "reason": "not a valid tracking number",
                            "code": "invalid_tracking_number",
                        }
                    )
                    continue
                key = (
                    scan["tracking_number"],
                    scan["facility_id"],
                    scan["timestamp"],
                    scan["status_code"],
                )
                if key in self.stored:
                    duplicates += 1
                else:
                    self.stored[key] = scan
                    accepted += 1
            rejected = len({e["index"] for e in errors})
            answer = {
                "accepted": accepted,
                "rejected": rejected,
                "duplicates": duplicates,
                "errors": errors,
            }
            return 200, answer, {}, action


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path != "/v1/scans":
            self._send(404, {"error": {"code": "not_found"}}, {})
            return
        if self.headers.get("Authorization") != f"Bearer {fake.key}":
            self._send(401, {"error": {"code": "unauthorized"}}, {})
            return
        status, answer, headers, action = fake.answer(body)
        if action in (DROP_BEFORE_STORING, DROP_AFTER_STORING):
            self.close_connection = True
            self.connection.close()
            return
        self._send(status, answer, headers)

    def _send(self, status: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeScanServer


@contextmanager
def fake_scan_server() -> Iterator[FakeScanServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeScanServer(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()
