"""Facility CSV files into a real `parcelstream serve`: dropped into its drop folder (the watcher
runs inside serve), and by hand with `parcelstream ingest FILE.csv` while it runs."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest

from .harness import ServerFactory, child_env
from .streaming import wait_until
from .workload import recent_start, ups_numbers

pytestmark = pytest.mark.slow

HEADER = "tracking_number,facility_id,timestamp,status_code,employee_id,city,region,postal_code,country\n"


def facility_file(numbers: list[str], bad: int = 0) -> str:
    start = recent_start(days_ago=1)
    lines = [HEADER]
    for n, number in enumerate(numbers):
        moment = (start + timedelta(minutes=n)).isoformat()
        lines.append(f"{number},ATL-HUB-01,{moment},ARRIVED_AT_FACILITY,E7,Atlanta,GA,30336,US\n")
    lines += [f"1Z999,ATL-HUB-01,{start.isoformat()},PICKED_UP,E7,,,,\n"] * bad
    return "".join(lines)


def ingest(path: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parcelstream.cli", "ingest", str(path), "--data", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
        check=False,
    )


async def all_tracked(base_url: str, numbers: list[str]) -> bool:
    async with httpx2.AsyncClient(base_url=base_url, timeout=10.0) as http:
        answers = await asyncio.gather(*(http.get(f"/v1/track/{n}") for n in numbers))
    return all(a.status_code == 200 and a.json()["status"] == "IN_TRANSIT" for a in answers)


async def test_files_dropped_or_ingested_by_hand_reach_the_lookups(
    server_factory: ServerFactory, rng: random.Random, tmp_path: Path
) -> None:
    server = server_factory(
        env={"PARCELSTREAM_DROPS_POLL_SECONDS": "0.2", "PARCELSTREAM_DROPS_SETTLE_SECONDS": "0"}
    )
    await asyncio.to_thread(server.start)
    dropped, by_hand = ups_numbers(rng, 30), ups_numbers(rng, 20)

    drops = server.data_dir / "drops"
    part = drops / "atl-0001.csv.part"
    part.write_text(facility_file(dropped, bad=2))
    part.rename(drops / "atl-0001.csv")
    result_file = drops / "_results" / "atl-0001.csv.result.json"
    assert await wait_until(result_file.exists, within=30)
    result = json.loads(result_file.read_text())
    assert (result["state"], result["accepted"], result["rejected"]) == ("done", 30, 2)
    assert (drops / "_results" / "atl-0001.csv.rejects.csv").exists()

    by_hand_file = tmp_path / "dfw 2026-11-25.csv"  # a name no blob key could carry
    by_hand_file.write_text(facility_file(by_hand, bad=1))
    done = await asyncio.to_thread(ingest, by_hand_file, server.data_dir)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert (printed["accepted"], printed["rejected"], printed["duplicates"]) == (20, 1, 0)
    rejects_path = by_hand_file.with_name(by_hand_file.name + ".rejects.csv")
    assert printed["rejects_file"] == str(rejects_path)
    rejects = list(csv.DictReader(io.StringIO(await asyncio.to_thread(rejects_path.read_text))))
    assert [(r["row"], r["field"], r["code"]) for r in rejects] == [
        ("22", "tracking_number", "invalid_tracking_number")
    ]
    again = await asyncio.to_thread(ingest, by_hand_file, server.data_dir)
    assert json.loads(again.stdout)["duplicates"] == 20

    async def tracked() -> bool:
        return await all_tracked(server.base_url, dropped + by_hand)

    for _ in range(100):
        if await tracked():
            break
        await asyncio.sleep(0.1)
    assert await tracked()
    assert "Traceback" not in server.log_text(), server.log_tail()


def test_ingest_exits_non_zero_for_a_file_it_cannot_read(tmp_path: Path) -> None:
    missing = ingest(tmp_path / "nothing.csv", tmp_path / "data")
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr
    headless = tmp_path / "headless.csv"
    headless.write_text("1Z5R89390357567127,ATL-HUB-01,2026-11-24T08:15:00Z,PICKED_UP\n")
    refused = ingest(headless, tmp_path / "data")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["state"] == "failed"
    assert "header lacks" in refused.stderr
