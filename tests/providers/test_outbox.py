"""OutboxFileProvider: the embedded stand-in for SMS and push, one JSON line per message."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parcelstream.notify.providers.base import Message, ProviderError, Sent
from parcelstream.notify.providers.outbox import OutboxFileProvider

SMS = Message("sms", "+14155550123", "evt-1", text="Out for delivery today.")
PUSH = Message(
    "push", "device-token", "evt-2", title="Delivered", text="At the door.", data={"tn": "1Z"}
)


async def test_each_message_is_appended_as_one_json_line(tmp_path: Path) -> None:
    path = tmp_path / "notify" / "outbox.jsonl"
    provider = OutboxFileProvider(path, clock=lambda: datetime(2026, 11, 24, 13, 15, tzinfo=UTC))

    assert await provider.send(SMS) == Sent("outbox", "evt-1")
    assert await provider.send(PUSH) == Sent("outbox", "evt-2")

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {
            "channel": "sms",
            "to": "+14155550123",
            "event_id": "evt-1",
            "text": "Out for delivery today.",
            "title": None,
            "data": {},
            "at": "2026-11-24T13:15:00.000+00:00",
        },
        {
            "channel": "push",
            "to": "device-token",
            "event_id": "evt-2",
            "text": "At the door.",
            "title": "Delivered",
            "data": {"tn": "1Z"},
            "at": "2026-11-24T13:15:00.000+00:00",
        },
    ]


async def test_concurrent_sends_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    provider = OutboxFileProvider(path)
    text = "x" * 5000

    await asyncio.gather(
        *(provider.send(Message("sms", "+1415555", f"e{i}", text=text)) for i in range(40))
    )

    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(r["event_id"] for r in records) == sorted(f"e{i}" for i in range(40))


async def test_an_unwritable_outbox_is_a_retryable_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    provider = OutboxFileProvider(blocker / "outbox.jsonl")

    with pytest.raises(ProviderError) as caught:
        await provider.send(SMS)

    assert caught.value.retryable
