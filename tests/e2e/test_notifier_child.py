"""`serve` runs the notifier in a child process: it dies with its parent, however the parent
dies, and a child that crashes is started again without losing a notification."""

from __future__ import annotations

import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from .harness import Server, ServerFactory, create_key
from .workload import rfc3339, ups_number

pytestmark = pytest.mark.slow


def _notifier_children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"notifier" in argv:
            found.append(int(entry))
    return found


def _wait_for(predicate: object, within: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {within} s")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _started(server: Server) -> int:
    assert server.process is not None
    parent = server.process.pid
    _wait_for(lambda: len(_notifier_children(parent)) == 1, 15, "one notifier child")
    return _notifier_children(parent)[0]


def test_the_notifier_child_dies_with_a_killed_parent(server_factory: ServerFactory) -> None:
    server = server_factory()
    server.start()
    child = _started(server)
    assert server.process is not None

    os.kill(server.process.pid, signal.SIGKILL)  # the parent alone, not its process group
    server.process.wait(timeout=10)

    _wait_for(lambda: not _alive(child), 10, "the orphaned notifier to exit")


def test_a_crashed_notifier_child_is_restarted_and_still_notifies(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory()
    shipper = create_key(server.data_dir, "shipper", "packages:write", "scans:write")
    server.start()
    first = _started(server)
    assert server.process is not None

    parent = server.process.pid
    os.kill(first, signal.SIGKILL)
    _wait_for(
        lambda: [p for p in _notifier_children(parent) if p != first], 15, "a new notifier child"
    )

    number = ups_number(random.Random(7))
    headers = {"Authorization": f"Bearer {shipper}"}
    with httpx2.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
        registered = client.post(
            "/v1/packages",
            json={
                "tracking_number": number,
                "recipient": {"phone": "+14045550123", "notify": ["sms"]},
            },
        )
        assert registered.status_code in (200, 201, 202), registered.text
        picked_up = {
            "tracking_number": number,
            "facility_id": "ATL-PU-01",
            "timestamp": rfc3339(datetime.now(UTC) - timedelta(minutes=1), -300),
            "status_code": "PICKED_UP",
        }
        answer = client.post("/v1/scans", json={"scans": [picked_up]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 1

    outbox = server.data_dir / "notifications-outbox.jsonl"
    _wait_for(
        lambda: outbox.exists() and number in outbox.read_text(),
        15,
        "the PICKED_UP SMS in the outbox",
    )
    assert "notifier exited" in server.log_text()
