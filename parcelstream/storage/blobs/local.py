"""A folder as the blob store (embedded): one file per key, written atomically.

A put writes a temporary file under `<root>/.partial/`, fsyncs it, renames it into place and
fsyncs the folder, so a crash leaves the old object or the new one, never half of one. Keys are
checked by `keys.check_key` (no `..`, no hidden or absolute parts), so a key cannot leave the root.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from parcelstream.storage.blobs.keys import check_key, check_prefix
from parcelstream.storage.ports import BlobInfo, BlobNotFound

_PARTIAL = ".partial"


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._partial = self.root / _PARTIAL

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        del content_type  # sniffed again from the bytes when served; a folder keeps no metadata
        path = self._path(key)
        await asyncio.to_thread(self._write, path, data)

    def _write(self, path: Path, data: bytes) -> None:
        self._partial.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = self._partial / uuid.uuid4().hex
        try:
            with temp.open("xb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        _fsync_dir(path.parent)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None

    async def stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None
        try:
            while chunk := await asyncio.to_thread(file.read, chunk_size):
                yield chunk
        finally:
            file.close()

    async def list(self, prefix: str) -> list[BlobInfo]:
        return await asyncio.to_thread(self._list, check_prefix(prefix))

    def _list(self, prefix: str) -> builtins.list[BlobInfo]:
        # Walk only the deepest folder the prefix names, then match the rest as a plain prefix.
        folder, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        found: list[BlobInfo] = []
        for directory, subdirs, files in os.walk(start):
            if directory == str(self.root):
                subdirs[:] = [d for d in subdirs if d != _PARTIAL]
            relative = os.path.relpath(directory, self.root)
            base = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            for name in files:
                key = base + name
                if not key.startswith(prefix):
                    continue
                with contextlib.suppress(FileNotFoundError):  # deleted while listing
                    stat = os.stat(os.path.join(directory, name))
                    found.append(
                        BlobInfo(
                            key=key,
                            size=stat.st_size,
                            etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
                            modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                        )
                    )
        found.sort(key=lambda info: info.key)
        return found

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)

    async def signed_url(self, key: str, expires_in: int) -> str | None:
        del key, expires_in
        return None

    async def ping(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"blob folder {self.root} is not writable")

    async def close(self) -> None:
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
