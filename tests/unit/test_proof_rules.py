"""Pure rules of proof of delivery: postal codes, image sniffing and file-link tokens."""

from __future__ import annotations

import pytest

from parcelstream.domain.delivery import normalize_postal_code, postal_codes_match
from parcelstream.notify.links import LinkSigner, Unsubscribe
from parcelstream.pod.images import JPEG, PNG, WEBP, describe_other, sniff_image
from parcelstream.pod.links import FileLinks
from tests.images import JPEG as JPEG_BYTES
from tests.images import PDF, png
from tests.images import WEBP as WEBP_BYTES


@pytest.mark.parametrize(
    ("given", "expected", "match"),
    [
        ("30301", "30301", True),
        ("30301-4402", "30301", True),
        ("30301", "30301-4402", True),
        (" 30301 ", "30301", True),
        ("sw1a 1aa", "SW1A 1AA", True),
        ("k1a0b1", "K1A 0B1", True),
        ("30302", "30301", False),
        ("3030", "30301", False),
        ("", "30301", False),
        (None, "30301", False),
        ("30301", None, False),
        ("", "", False),
        (None, None, False),
    ],
)
def test_postal_codes_match_ignoring_case_space_and_zip4(
    given: str | None, expected: str | None, match: bool
) -> None:
    assert postal_codes_match(given, expected) is match


def test_a_zip_plus_4_normalizes_to_its_zip() -> None:
    assert normalize_postal_code("30301-4402") == "30301"
    assert normalize_postal_code("ec1a 1bb") == "EC1A1BB"


def test_images_are_told_by_their_first_bytes() -> None:
    assert sniff_image(png()[:16]) is PNG
    assert sniff_image(JPEG_BYTES[:16]) is JPEG
    assert sniff_image(WEBP_BYTES[:16]) is WEBP
    assert sniff_image(PDF[:16]) is None
    assert sniff_image(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert describe_other(PDF[:16]) == "a PDF file"
    assert "HEIC" in describe_other(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00")


def test_a_file_link_names_its_key_until_it_expires() -> None:
    links = FileLinks(b"secret")
    token = links.token("proof/1Z/abc.png", expires_at=1_000)
    assert links.read(token, now=999) == ("proof/1Z/abc.png", 1_000)
    assert links.read(token, now=1_000) is None
    assert FileLinks(b"other secret").read(token, now=0) is None


def test_an_unsubscribe_token_is_no_file_link() -> None:
    token = LinkSigner(b"secret", "http://x").token(Unsubscribe("sub_" + "ab" * 8))
    assert FileLinks(b"secret").read(token, now=0) is None
