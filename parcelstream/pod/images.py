"""What an uploaded file really is, from its first bytes: names and declared types are not
trusted. Proof of delivery takes JPEG, PNG and WebP."""

from __future__ import annotations

from dataclasses import dataclass

SNIFF_BYTES = 16
"""Enough of the start of a file to tell every format below apart."""


@dataclass(frozen=True, slots=True)
class ImageType:
    content_type: str
    extension: str


JPEG = ImageType("image/jpeg", "jpg")
PNG = ImageType("image/png", "png")
WEBP = ImageType("image/webp", "webp")
ACCEPTED = "JPEG, PNG or WebP"

# Common things people send instead, named in the refusal so the sender knows what went wrong.
_OTHERS = (
    (b"%PDF-", "PDF"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"PK\x03\x04", "ZIP"),
    (b"<?xml", "XML or SVG"),
    (b"<svg", "SVG"),
)


def sniff_image(head: bytes) -> ImageType | None:
    """The image type the bytes start with, or None if not one we take."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def describe_other(head: bytes) -> str:
    """A few words on what a refused file looks like, for the error message."""
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("ascii", "replace").strip()
        return f"an ISO media file (brand {brand!r}: HEIC or AVIF, as phones take by default)"
    for magic, name in _OTHERS:
        if head.startswith(magic):
            return f"a {name} file"
    return "not an image we recognise"
