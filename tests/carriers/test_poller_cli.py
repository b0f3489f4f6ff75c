"""`parcelstream poller` refuses to start without a usable carrier setting, saying why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import child_env


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "no carrier to poll"),
        (
            {"PARCELSTREAM_UPS_API_URL": "https://id:hunter2@onlinetools.ups.com?rate=x"},
            "PARCELSTREAM_UPS_API_URL",
        ),
        ({"PARCELSTREAM_USPS_API_URL": "https://apis.usps.com"}, "client id and secret"),
    ],
)
def test_the_poller_refuses_to_start_without_a_usable_carrier(
    env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "parcelstream.cli", "poller", "--data", str(tmp_path)],
        env={**child_env(), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
