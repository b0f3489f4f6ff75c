"""The embedded default for SMS and push when no provider is configured: one JSON line per
message appended to a file, fsync'd before the send counts as done.

Each line: {"channel", "to", "event_id", "text", "title", "data", "at"} (plus "subject" when set),
`at` in RFC 3339 UTC. A crash can leave a torn last line; readers skip a line that does not parse.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from parcelstream.notify.providers.base import Message, ProviderError, Sent


class OutboxFileProvider:
    name: str = "outbox"

    def __init__(
        self, path: Path, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._path = path
        self._clock = clock
        # Writes run on worker threads; the lock keeps two lines from interleaving.
        self._lock = threading.Lock()

    async def send(self, message: Message) -> Sent:
        record: dict[str, object] = {
            "channel": message.channel,
            "to": message.to,
            "event_id": message.event_id,
            "text": message.text,
            "title": message.title,
            "data": dict(message.data),
            "at": self._clock().isoformat(timespec="milliseconds"),
        }
        if message.subject is not None:
            record["subject"] = message.subject
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            # fsync takes milliseconds on a real disk: off the event loop.
            await asyncio.to_thread(self._append, line.encode())
        except OSError as exc:
            # A full disk or a missing permission may be fixed by an operator: worth retrying.
            raise ProviderError(f"outbox: cannot write ({exc.strerror})", retryable=True) from None
        return Sent(self.name, message.event_id)

    async def close(self) -> None:
        return None

    def _append(self, line: bytes) -> None:
        with self._lock:
            created = not self._path.exists()
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                # A new file's name is durable only once its folder is synced too.
                _fsync_dir(self._path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
