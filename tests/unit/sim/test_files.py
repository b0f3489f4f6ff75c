"""Scenario and truth files: deterministic bytes, and a faithful round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from parcelstream.sim.faults import Faults
from parcelstream.sim.files import BadScenarioFile, read_truths
from parcelstream.sim.scenario import Scenario, generate

from .scenarios import START


def _saved(tmp_path: Path, name: str, seed: int) -> bytes:
    path = tmp_path / name
    generate(seed, START, 5, 120, Faults()).save(path)
    return path.read_bytes()


def test_the_same_seed_writes_a_byte_identical_scenario_file(tmp_path: Path) -> None:
    first = _saved(tmp_path, "a.jsonl", 42)
    assert first == _saved(tmp_path, "b.jsonl", 42)
    assert first != _saved(tmp_path, "c.jsonl", 43)
    header = first.split(b"\n", 1)[0]
    assert header.startswith(
        b'{"kind":"scenario","version":1,"seed":42,"start":"2026-11-02T00:00:00Z","days":5'
    )


def test_a_saved_scenario_loads_back_as_it_was(tmp_path: Path) -> None:
    original = generate(7, START, 6, 150, Faults())
    path = tmp_path / "s.jsonl"
    original.save(path)
    loaded = Scenario.load(path)
    assert loaded.header == original.header
    assert list(loaded.events()) == list(original.events())
    assert loaded.truths == original.truths
    assert loaded.weather_days == original.weather_days
    again = tmp_path / "again.jsonl"
    loaded.save(again)
    assert again.read_bytes() == path.read_bytes()


def test_the_truth_file_holds_one_truth_per_package(tmp_path: Path) -> None:
    s = generate(7, START, 6, 150, Faults())
    path = tmp_path / "truth.jsonl"
    s.write_truth(path)
    assert len(path.read_bytes().splitlines()) == len(s.truths)
    assert read_truths(path) == s.truths


def test_a_file_that_is_not_a_scenario_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    generate(7, START, 2, 20, Faults()).write_truth(path)
    with pytest.raises(BadScenarioFile, match=r"truth\.jsonl"):
        Scenario.load(path)
