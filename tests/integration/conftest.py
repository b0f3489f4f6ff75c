"""An in-process server (API + processor) on a fresh data folder, with keys for each scope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from parcelstream.api.app import create_app
from parcelstream.api.auth import create_key
from parcelstream.settings import Settings
from parcelstream.wiring import open_backends


@dataclass
class Api:
    client: TestClient
    keys: dict[str, str]

    def post(self, path: str, body: Any, scope: str = "admin") -> httpx2.Response:
        return self.client.post(
            path, json=body, headers={"Authorization": f"Bearer {self.keys[scope]}"}
        )

    def track(self, tn: str, **headers: str) -> httpx2.Response:
        return self.client.get(f"/v1/track/{tn}", headers=headers)

    def wait_for(
        self, tn: str, until: Callable[[dict[str, Any]], bool], seconds: float = 5.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            response = self.track(tn)
            if response.status_code == 200:
                document: dict[str, Any] = response.json()
                if until(document):
                    return document
            if time.monotonic() > deadline:
                raise AssertionError(f"{tn} never reached the expected state: {response.text}")
            time.sleep(0.02)


def make_keys(settings: Settings) -> dict[str, str]:
    async def create() -> dict[str, str]:
        backends = await open_backends(settings)
        try:
            return {
                scope: await create_key(backends.keys, f"test {scope}", [scope])
                for scope in ("scans:write", "packages:write", "admin")
            }
        finally:
            await backends.close()

    return asyncio.run(create())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path / "data")
    keys = make_keys(settings)
    with TestClient(create_app(settings, with_processor=True)) as client:
        yield Api(client, keys)
