"""`parcelstream simulate` against a real `parcelstream serve`: every package and scan lands, the
server's answers add up to the scenario, the tracking documents show what the truth file says, and
replaying the saved scenario changes nothing."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from parcelstream.sim.files import read_truths
from parcelstream.sim.scenario import Scenario

from .harness import ServerFactory, child_env, create_key, free_port

pytestmark = pytest.mark.slow

_CLI = (sys.executable, "-m", "parcelstream.cli", "simulate")
_SCANS = re.compile(
    r"scans sent ([\d,]+): accepted ([\d,]+), rejected ([\d,]+), duplicates ([\d,]+)"
)
_PACKAGES = re.compile(r"packages registered ([\d,]+) \(refused ([\d,]+)\)")


def _simulate(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_CLI, *options], capture_output=True, text=True, timeout=120, env=child_env(), check=False
    )


def _counts(output: str) -> dict[str, int]:
    scans, packages = _SCANS.search(output), _PACKAGES.search(output)
    assert scans, output
    assert packages, output
    numbers = [int(g.replace(",", "")) for g in (*packages.groups(), *scans.groups())]
    return dict(
        zip(
            ("packages", "refused", "sent", "accepted", "rejected", "duplicates"),
            numbers,
            strict=True,
        )
    )


def _documents(client: httpx2.Client, numbers: list[str]) -> dict[str, dict[str, Any]]:
    """The tracking documents, without `estimated_delivery`: the estimate is computed off the
    hot path and patched in whenever it is ready, so it may change between two reads."""
    found = {}
    for number in numbers:
        answer = client.get(f"/v1/track/{number}")
        assert answer.status_code == 200, (number, answer.text)
        document = answer.json()
        document.pop("estimated_delivery", None)
        found[number] = document
    return found


def _wait_for_every_scan(
    client: httpx2.Client, expected: dict[str, int]
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        documents = _documents(client, list(expected))
        short = [n for n, count in expected.items() if len(documents[n]["events"]) < count]
        if not short:
            return documents
        assert time.monotonic() < deadline, f"{len(short)} packages never showed all their scans"
        time.sleep(0.5)


def test_a_simulated_network_lands_on_a_real_server_and_a_replay_changes_nothing(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory()
    server.start()
    key = create_key(server.data_dir, "simulator", "scans:write", "packages:write")
    start = datetime.combine(datetime.now(UTC).date() - timedelta(days=9), datetime.min.time(), UTC)
    scenario_file, truth_file = tmp_path / "scenario.jsonl", tmp_path / "truth.jsonl"
    common = ("--url", server.base_url, "--api-key", key, "--as-fast-as-possible")
    done = _simulate(
        *common,
        *(
            "--seed",
            "5",
            "--days",
            "7",
            "--packages-per-day",
            "40",
            "--start",
            start.date().isoformat(),
        ),
        *("--save", str(scenario_file), "--truth", str(truth_file)),
    )
    assert done.returncode == 0, done.stderr

    scenario = Scenario.load(scenario_file)
    truths = read_truths(truth_file)
    assert truths == scenario.truths
    journeys = scenario.journeys()
    sent = len(scenario.scans)
    distinct = sum(len(j) for j in journeys.values())
    assert distinct < sent  # the default faults resend some scans
    assert _counts(done.stdout) == {
        "packages": len(truths),
        "refused": 0,
        "sent": sent,
        "accepted": distinct,
        "rejected": 0,
        "duplicates": sent - distinct,
    }

    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        before = _wait_for_every_scan(client, {n: len(j) for n, j in journeys.items()})
        delivered = 0
        for truth in truths:
            document = before[truth.tracking_number]
            assert len(document["events"]) == len(journeys[truth.tracking_number])
            if truth.outcome == "delivered":
                assert document["status"] == "DELIVERED"
                moments = [
                    datetime.fromisoformat(e["timestamp"])
                    for e in document["events"]
                    if e["status_code"] == "DELIVERED"
                ]
                assert moments == [truth.delivered_at]
                delivered += 1
            else:
                assert document["status"] != "DELIVERED"
        assert delivered > 50

        replayed = _simulate(*common, "--replay", str(scenario_file))
        assert replayed.returncode == 0, replayed.stderr
        assert _counts(replayed.stdout) == {
            "packages": len(truths),
            "refused": 0,
            "sent": sent,
            "accepted": 0,
            "rejected": 0,
            "duplicates": sent,
        }
        # The processor takes the log in order: once a package registered after the replay is
        # visible, the replayed registrations have been processed too.
        last = scenario.packages[-1].body
        sentinel = {**last, "tracking_number": "1Z999AA10123456784", "service_type": "GROUND"}
        answer = client.post(
            "/v1/packages", json=sentinel, headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 202, answer.text
        deadline = time.monotonic() + 30
        while client.get("/v1/track/1Z999AA10123456784").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert _documents(client, list(before)) == before


def test_simulate_at_a_rate_sends_everything_and_fails_loudly_without_a_server(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory()
    server.start()
    key = create_key(server.data_dir, "simulator", "scans:write", "packages:write")
    start = (datetime.now(UTC).date() - timedelta(days=5)).isoformat()
    small = (
        "--seed",
        "9",
        "--days",
        "4",
        "--packages-per-day",
        "30",
        "--start",
        start,
        "--no-faults",
    )
    paced = _simulate("--url", server.base_url, "--api-key", key, "--rate", "3000", *small)
    assert paced.returncode == 0, paced.stderr
    counts = _counts(paced.stdout)
    assert counts["accepted"] == counts["sent"] > 0
    assert counts["rejected"] == counts["duplicates"] == counts["refused"] == 0

    nobody = f"http://127.0.0.1:{free_port()}"
    failed = _simulate(
        "--url", nobody, "--api-key", key, "--rate", "3000", "--retries", "1", *small
    )
    assert failed.returncode == 1
    assert "failed 2 times" in failed.stderr

    wrong_key = _simulate(
        "--url", server.base_url, "--api-key", "not-a-key", "--as-fast-as-possible", *small
    )
    assert wrong_key.returncode == 1
    assert "401" in wrong_key.stderr
