"""Misconfiguration stops a command at once, with a clear message and a failing exit code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PARCELSTREAM_DATABASE_URL": "postgresq://db/x"}, "Did you mean postgresql://"),
        ({"PARCELSTREAM_REDIS_URL": "redis://127.0.0.1:6379"}, "needs PARCELSTREAM_DATABASE_URL"),
        (
            {"PARCELSTREAM_DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1/x"},
            "PARCELSTREAM_SIGNING_SECRET",
        ),
    ],
)
def test_api_refuses_bad_settings_before_starting(env: dict[str, str], expected: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARCELSTREAM_")}
    done = subprocess.run(
        [sys.executable, "-m", "parcelstream.cli", "api", "--port", "1"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert expected in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
