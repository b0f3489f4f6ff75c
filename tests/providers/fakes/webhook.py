"""A shipper's webhook endpoint that verifies parcelstream's signature the way the README tells
receivers to: fresh timestamp, HMAC over "timestamp.body", event ids deduplicated."""

from __future__ import annotations

import hashlib
import hmac
import time

from starlette.responses import Response
from starlette.routing import Route

from tests.providers.fakes.server import Accepted, FakeServer, Received, json_response


class FakeWebhookReceiver(FakeServer):
    """Accepts POSTs on any path (use `url + "/hooks/…"`). `accepted[i].id` is the event id,
    `.content` the parsed JSON body; a repeated event id is answered 200 and kept in
    `duplicates`, not in `accepted`."""

    def __init__(self, secret: str = "whsec-fake-0123456789", tolerance_s: int = 300) -> None:
        super().__init__()
        self.secret = secret
        self.tolerance_s = tolerance_s
        self.duplicates: list[Received] = []

    def _routes(self) -> list[Route]:
        return [self._route("/{path:path}", "send", self._receive)]

    def _error_body(self, route: str, status: int) -> bytes:
        return b'{"error": "fake failure"}'

    def reset(self) -> None:
        super().reset()
        self.duplicates.clear()

    async def _receive(self, received: Received) -> Response:
        headers = received.headers
        if not headers.get("content-type", "").startswith("application/json"):
            return self._refuse("content type is not JSON", 415, {"error": "json only"})
        event_id = headers.get("parcelstream-event-id", "")
        timestamp = headers.get("parcelstream-timestamp", "")
        signature = headers.get("parcelstream-signature", "")
        if not event_id:
            return self._refuse("no Parcelstream-Event-Id", 400, {"error": "event id"})
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.tolerance_s:
            return self._refuse(f"stale timestamp {timestamp!r}", 400, {"error": "stale"})
        signed = timestamp.encode() + b"." + received.body
        expected = "v1=" + hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(expected, s.strip()) for s in signature.split(",")):
            return self._refuse("bad signature", 401, {"error": "signature"})
        try:
            content = received.json()
        except ValueError:
            return self._refuse("body is not JSON", 400, {"error": "json"})
        if not isinstance(content, dict):
            return self._refuse("the event is not a JSON object", 400, {"error": "json"})
        if any(a.id == event_id for a in self.accepted):
            self.duplicates.append(received)
        else:
            self.accepted.append(Accepted(event_id, content, received))
        return json_response({"ok": True})
