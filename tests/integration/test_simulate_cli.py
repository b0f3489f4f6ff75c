"""`parcelstream simulate` without a server: it writes the scenario and truth it was asked for,
the same bytes every time, and refuses an incomplete command line at once."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from parcelstream.cli import app

_SMALL = ["--seed", "3", "--days", "3", "--packages-per-day", "25", "--start", "2026-11-02"]


def test_save_writes_the_scenario_and_its_truth_without_sending(tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("a", "b"):
        options = [
            "--save",
            str(tmp_path / f"{name}.jsonl"),
            "--truth",
            str(tmp_path / f"{name}.truth"),
        ]
        done = runner.invoke(app, ["simulate", *_SMALL, *options])
        assert done.exit_code == 0, done.output
        assert "saved the scenario" in done.output
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.truth").read_bytes() == (tmp_path / "b.truth").read_bytes()
    assert (
        (tmp_path / "a.jsonl").read_bytes().startswith(b'{"kind":"scenario","version":1,"seed":3')
    )


def test_an_incomplete_command_line_is_refused_before_anything_is_generated(tmp_path: Path) -> None:
    runner = CliRunner()
    nothing_to_do = runner.invoke(app, ["simulate", *_SMALL])
    assert nothing_to_do.exit_code == 2
    assert "--rate" in nothing_to_do.output
    both = runner.invoke(app, ["simulate", *_SMALL, "--rate", "10", "--as-fast-as-possible"])
    assert both.exit_code == 2
    no_key = runner.invoke(
        app, ["simulate", *_SMALL, "--rate", "10"], env={"PARCELSTREAM_API_KEY": ""}
    )
    assert no_key.exit_code == 2
    assert "--api-key" in no_key.output
    bad_start = runner.invoke(
        app, ["simulate", *_SMALL[:-2], "--start", "soon", "--save", str(tmp_path / "x")]
    )
    assert bad_start.exit_code == 2
    assert not (tmp_path / "x").exists()
