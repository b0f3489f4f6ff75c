"""A bounded in-process cache of read-model documents, safe across the writer and reader threads.

Each entry carries the package version, so a reader that fetched an older document from disk can
never overwrite a newer one the writer just put in.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from parcelstream.storage.ports import StoredDocument


class DocumentCache:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[int, StoredDocument]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> StoredDocument | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, version: int, document: StoredDocument) -> None:
        if self._capacity <= 0:
            return
        with self._lock:
            current = self._entries.get(key)
            if current is not None and current[0] > version:
                return
            self._entries[key] = (version, document)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
