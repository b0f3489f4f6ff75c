"""Proof-of-delivery files: the limits an upload must keep, and storing what was received.

Files are keyed by tracking number and content hash (`proof/<tn>/<sha256>.<ext>`), so a resent
upload writes the same keys with the same bytes: idempotent, and nothing to clean up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import IO

from parcelstream.domain.proof import ProofFile
from parcelstream.pod.images import ImageType
from parcelstream.storage.ports import BlobStore

KINDS = ("signature", "photo")
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@dataclass(frozen=True, slots=True)
class ProofLimits:
    max_file_bytes: int = 10 * 1024 * 1024
    max_photos: int = 5
    max_signatures: int = 1


@dataclass(slots=True)
class ReceivedFile:
    """An uploaded file, read in full and checked: its type from its first bytes, its digest
    computed while it arrived. The bytes wait in `spool` (memory, then disk) until stored."""

    field: str
    """How refusals name it: "signature", "photo[2]"."""
    kind: str
    image: ImageType
    sha256: str
    size: int
    spool: IO[bytes]


def proof_key(tracking_number: str, sha256: str, image: ImageType) -> str:
    return f"proof/{tracking_number}/{sha256}.{image.extension}"


def content_type_of(key: str) -> str:
    return CONTENT_TYPES.get(key.rpartition(".")[2], "application/octet-stream")


async def store_files(
    blobs: BlobStore, tracking_number: str, received: list[ReceivedFile]
) -> tuple[ProofFile, ...]:
    """Every file in the blob store, signature first, photos in upload order; returns their
    references. One file's bytes are in memory at a time."""
    ordered = sorted(received, key=lambda f: KINDS.index(f.kind))
    stored: list[ProofFile] = []
    for file in ordered:
        key = proof_key(tracking_number, file.sha256, file.image)
        data = await asyncio.to_thread(_read_all, file.spool)
        await blobs.put(key, data, file.image.content_type)
        stored.append(ProofFile(file.kind, key, file.sha256, file.image.content_type, file.size))
    return tuple(stored)


def _read_all(spool: IO[bytes]) -> bytes:
    spool.seek(0)
    return spool.read()
