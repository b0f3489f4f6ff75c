"""A client that goes away mid-body (a handheld killed or out of coverage) is refused quietly, on
the JSON scan API and on the multipart proof upload alike: nothing is taken, no 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import Api

BOUNDARY = "psboundary"


async def _send_half(api: Api, path: str, content_type: str, first_half: bytes) -> list[Any]:
    sent: list[Any] = []
    incoming = [
        {"type": "http.request", "body": first_half, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Any:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", content_type.encode()),
            (b"content-length", b"100000"),
            (b"authorization", f"Bearer {api.keys['scans:write']}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
        "app": api.client.app,
    }
    await api.client.app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("path", "content_type", "first_half"),
    [
        ("/v1/scans", "application/json", b'{"scans": [{"tracking_number": "1Z'),
        (
            "/v1/scans/proof",
            f"multipart/form-data; boundary={BOUNDARY}",
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n".encode("latin-1"),
        ),
    ],
)
def test_a_client_gone_mid_body_is_refused_quietly(
    api: Api, path: str, content_type: str, first_half: bytes
) -> None:
    assert api.client.portal is not None
    sent = api.client.portal.call(_send_half, api, path, content_type, first_half)

    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 400
    assert json.loads(body)["error"]["code"] == "disconnected"
