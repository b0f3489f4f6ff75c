"""Reading a proof-of-delivery upload (multipart/form-data) as it streams in.

Each file part is hashed and checked while it arrives: its type from its first bytes (415 at
once for anything else), its size against the limit (413 as soon as it is passed), the number of
photos as each part begins. Files wait in spooled temporary files (memory up to 1 MiB, then
disk), so memory stays bounded whatever is sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from parcelstream.domain.errors import RejectedInput, Rejection
from parcelstream.pod.files import KINDS, ProofLimits, ReceivedFile
from parcelstream.pod.images import (
    ACCEPTED,
    SNIFF_BYTES,
    ImageType,
    describe_other,
    sniff_image,
)

SCAN_PART = "scan"
MAX_SCAN_PART = 64 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024


@dataclass
class ProofUpload:
    scan: bytes | None = None
    files: list[ReceivedFile] = field(default_factory=list)

    def close(self) -> None:
        for file in self.files:
            file.spool.close()


@dataclass
class _Part:
    name: str
    label: str
    spool: IO[bytes] | None = None
    data: bytearray = field(default_factory=bytearray)
    head: bytearray = field(default_factory=bytearray)
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    size: int = 0


class _Reader:
    def __init__(self, limits: ProofLimits) -> None:
        self.limits = limits
        self.upload = ProofUpload()
        self.counts = dict.fromkeys(KINDS, 0)
        self.part: _Part | None = None
        self.open_spools: list[IO[bytes]] = []
        self._headers: dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()

    # python-multipart callbacks; a RejectedInput raised here stops the upload at once.

    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field.extend(data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value.extend(data[start:end])

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == SCAN_PART:
            if self.upload.scan is not None:
                raise RejectedInput(Rejection(SCAN_PART, "send one scan per upload", "invalid"))
            self.part = _Part(name, name)
            return
        if name not in KINDS:
            raise RejectedInput(
                Rejection(
                    name or None,
                    f"unknown part {name!r}: send 'scan', 'signature' and 'photo' parts",
                    "unknown_part",
                )
            )
        self.counts[name] += 1
        most = self.limits.max_signatures if name == "signature" else self.limits.max_photos
        if self.counts[name] > most:
            raise RejectedInput(
                Rejection(name, f"at most {most} {name} file(s) per delivery", "too_many_files")
            )
        label = name if name == "signature" else f"photo[{self.counts[name]}]"
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        self.open_spools.append(spool)
        self.part = _Part(name, label, spool)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        assert part is not None
        chunk = data[start:end]
        part.size += len(chunk)
        if part.spool is None:
            if part.size > MAX_SCAN_PART:
                raise RejectedInput(
                    Rejection(
                        SCAN_PART,
                        f"the scan is larger than {MAX_SCAN_PART} bytes",
                        "body_too_large",
                    )
                )
            part.data.extend(chunk)
            return
        if part.size > self.limits.max_file_bytes:
            raise RejectedInput(
                Rejection(
                    part.label,
                    f"the file is larger than {self.limits.max_file_bytes} bytes",
                    "file_too_large",
                )
            )
        if len(part.head) < SNIFF_BYTES:
            part.head.extend(chunk[: SNIFF_BYTES - len(part.head)])
            if len(part.head) >= SNIFF_BYTES:
                self._check_type(part)
        part.digest.update(chunk)
        part.spool.write(chunk)

    def on_part_end(self) -> None:
        part, self.part = self.part, None
        assert part is not None
        if part.spool is None:
            self.upload.scan = bytes(part.data)
            return
        if part.size == 0:
            raise RejectedInput(Rejection(part.label, "the file is empty", "invalid"))
        image = self._check_type(part)
        self.upload.files.append(
            ReceivedFile(
                part.label, part.name, image, part.digest.hexdigest(), part.size, part.spool
            )
        )

    def _check_type(self, part: _Part) -> ImageType:
        image = sniff_image(bytes(part.head))
        if image is None:
            raise RejectedInput(
                Rejection(
                    part.label,
                    f"must be {ACCEPTED} (judged by its content, not its name or declared type);"
                    f" this is {describe_other(bytes(part.head))}",
                    "unsupported_media_type",
                )
            )
        return image


async def read_proof_upload(request: Request, limits: ProofLimits) -> ProofUpload:
    """The upload, checked part by part; RejectedInput for the first problem (nothing kept)."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise RejectedInput(
            Rejection(
                "Content-Type",
                "send multipart/form-data with a 'scan' part and 'signature'/'photo' files",
                "unsupported_media_type",
            )
        )
    most = MAX_SCAN_PART + (limits.max_photos + limits.max_signatures) * (
        limits.max_file_bytes + 4096
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > most:
        raise RejectedInput(
            Rejection(None, f"the body is larger than {most} bytes", "body_too_large")
        )
    reader = _Reader(limits)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": reader.on_part_begin,
            "on_header_field": reader.on_header_field,
            "on_header_value": reader.on_header_value,
            "on_header_end": reader.on_header_end,
            "on_headers_finished": reader.on_headers_finished,
            "on_part_data": reader.on_part_data,
            "on_part_end": reader.on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            _parse(parser.write, chunk)
        _parse(parser.finalize)
    except BaseException:  # a refusal, a client gone mid-body: nothing of it is kept
        _close(reader.open_spools)
        raise
    if reader.part is not None:
        _close(reader.open_spools)
        raise RejectedInput(Rejection(None, "the upload ended inside a part", "malformed"))
    return reader.upload


def _parse(step: Callable[..., object], *args: bytes) -> None:
    """One step of the parser; its own errors mean the body is not valid multipart."""
    try:
        step(*args)
    except RejectedInput:  # a limit, raised by our callbacks
        raise
    except Exception as exc:
        raise RejectedInput(
            Rejection(None, f"not valid multipart/form-data: {exc}", "malformed")
        ) from None


def _close(spools: list[IO[bytes]]) -> None:
    for spool in spools:
        with contextlib.suppress(Exception):
            spool.close()
