"""Liveness and readiness of a real server process: /readyz answers 200 as soon as the server is
up, on a fresh data folder and again after a kill -9 and restart on the same folder."""

from __future__ import annotations

import httpx2

from .harness import Server, ServerFactory


def _assert_ok(response: httpx2.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


def test_readyz_answers_200_once_started(server_factory: ServerFactory) -> None:
    server: Server = server_factory()
    server.start()  # returns as soon as /healthz answers
    with httpx2.Client(base_url=server.base_url, timeout=10.0) as client:
        _assert_ok(client.get("/readyz"))
        _assert_ok(client.get("/healthz"))
    assert sorted(p.name for p in server.data_dir.glob("*.db")) == ["log.db", "state.db"]

    server.kill()
    server.start()
    with httpx2.Client(base_url=server.base_url, timeout=10.0) as client:
        _assert_ok(client.get("/readyz"))
