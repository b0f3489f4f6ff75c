"""The multipart reader refuses a proof upload as soon as the problem shows, without reading the
rest of the body."""

from __future__ import annotations

import hashlib
import json

import pytest
from starlette.requests import Request
from starlette.types import Message

from parcelstream.api.multipart import read_proof_upload
from parcelstream.domain.errors import RejectedInput
from parcelstream.pod.files import ProofLimits
from tests.images import JPEG, PDF, png

BOUNDARY = "ps-test-boundary"
CHUNK = 16 * 1024


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return (
        (
            f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
    )


class Body:
    """An ASGI receive() that hands the body over in chunks and counts how many were taken."""

    def __init__(self, body: bytes) -> None:
        self.chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
        self.taken = 0

    async def __call__(self) -> Message:
        self.taken += 1
        chunk = self.chunks[self.taken - 1]
        return {"type": "http.request", "body": chunk, "more_body": self.taken < len(self.chunks)}

    def request(self) -> Request:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/scans/proof",
            "headers": [
                (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            ],
        }
        return Request(scope, self)


SCAN = json.dumps({"tracking_number": "1Z5R89390357567127", "status_code": "DELIVERED"}).encode()


async def test_a_good_upload_yields_the_scan_and_each_file_with_its_digest() -> None:
    body = Body(
        part("scan", SCAN)
        + part("photo", JPEG, "a.jpg")
        + part("signature", png(), "s.png")
        + f"--{BOUNDARY}--\r\n".encode()
    )
    upload = await read_proof_upload(body.request(), ProofLimits())
    try:
        assert upload.scan == SCAN
        assert [(f.field, f.image.content_type, f.size) for f in upload.files] == [
            ("photo[1]", "image/jpeg", len(JPEG)),
            ("signature", "image/png", len(png())),
        ]
        assert upload.files[0].sha256 == hashlib.sha256(JPEG).hexdigest()
    finally:
        upload.close()


async def test_an_oversized_file_is_refused_before_the_rest_is_read() -> None:
    huge = png() + b"\x00" * (40 * CHUNK)
    body = Body(part("scan", SCAN) + part("photo", huge, "p.png") + f"--{BOUNDARY}--\r\n".encode())
    with pytest.raises(RejectedInput) as refused:
        await read_proof_upload(body.request(), ProofLimits(max_file_bytes=4 * CHUNK))
    assert refused.value.rejections[0].code == "file_too_large"
    assert body.taken <= 6 < len(body.chunks)


async def test_a_file_of_the_wrong_type_is_refused_at_its_first_bytes() -> None:
    fake = PDF + b"\x00" * (40 * CHUNK)
    body = Body(part("photo", fake, "p.jpg") + part("scan", SCAN) + f"--{BOUNDARY}--\r\n".encode())
    with pytest.raises(RejectedInput) as refused:
        await read_proof_upload(body.request(), ProofLimits())
    assert refused.value.rejections[0].code == "unsupported_media_type"
    assert refused.value.rejections[0].field == "photo[1]"
    assert body.taken == 1


async def test_a_body_cut_off_inside_a_part_is_malformed() -> None:
    body = Body(part("scan", SCAN) + part("photo", JPEG, "a.jpg")[:-10])
    with pytest.raises(RejectedInput) as refused:
        await read_proof_upload(body.request(), ProofLimits())
    assert refused.value.rejections[0].code == "malformed"
