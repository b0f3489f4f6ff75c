"""Proof of delivery through the app (embedded shape): the multipart upload and its checks, the
public summary, the postal-code gate and the expiring signed links."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from starlette.testclient import TestClient

from parcelstream.api.app import create_app
from parcelstream.settings import Settings
from tests.images import JPEG, PDF, WEBP, png
from tests.integration.conftest import Api, make_keys
from tests.integration.test_api import PACKAGE, TN, scan

Files = list[tuple[str, tuple[str, bytes, str]]]

GPS = {"latitude": 33.7537, "longitude": -84.3863, "accuracy_m": 8.5}
PROOF = {"signed_by": "D. Whitfield", "left_at": "Front door", "location": GPS}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Api, Path]]:
    data = tmp_path / "data"
    settings = Settings(
        data_dir=data, proof_max_file_bytes=64 * 1024, proof_max_photos=3, proof_link_seconds=1
    )
    keys = make_keys(settings)
    with TestClient(create_app(settings, with_processor=True)) as client:
        yield Api(client, keys), data / "blobs"


def delivered(**extra: Any) -> dict[str, Any]:
    return scan(hour=14, code="DELIVERED", **extra)


def upload(
    api: Api, the_scan: dict[str, Any] | None, files: Files, scope: str = "scans:write"
) -> httpx2.Response:
    """A multipart upload; the scan goes as a plain form field (no filename)."""
    parts: list[tuple[str, tuple[str | None, bytes, str]]] = []
    if the_scan is not None:
        parts.append(("scan", (None, json.dumps(the_scan).encode(), "application/json")))
    parts.extend(files)
    return api.client.post(
        "/v1/scans/proof",
        files=parts,
        headers={"Authorization": f"Bearer {api.keys[scope]}"},
    )


def stored_files(blobs: Path) -> list[str]:
    return sorted(
        str(p.relative_to(blobs))
        for p in blobs.rglob("*")
        if p.is_file() and ".partial" not in p.parts
    )


def deliver_with_proof(api: Api) -> dict[str, Any]:
    api.post("/v1/packages", PACKAGE, scope="packages:write")
    response = upload(
        api,
        delivered(proof=PROOF),
        [
            ("signature", ("signature.png", png(seed=1), "image/png")),
            ("photo", ("door.jpg", JPEG, "image/jpeg")),
            ("photo", ("porch.webp", WEBP, "image/webp")),
        ],
    )
    assert response.status_code == 200, response.text
    api.wait_for(TN, lambda d: d["proof_of_delivery"] is not None)
    body: dict[str, Any] = response.json()
    return body


def test_upload_stores_each_image_under_its_digest_and_answers_like_post_scans(
    app: tuple[Api, Path],
) -> None:
    api, blobs = app
    answer = deliver_with_proof(api)

    assert answer["accepted"] == 1
    assert answer["duplicates"] == 0
    assert answer["rejected"] == 0
    assert answer["errors"] == []
    assert [(f["kind"], f["content_type"]) for f in answer["files"]] == [
        ("signature", "image/png"),
        ("photo", "image/jpeg"),
        ("photo", "image/webp"),
    ]
    for f, data in zip(answer["files"], (png(seed=1), JPEG, WEBP), strict=True):
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["size"] == len(data)
    assert stored_files(blobs) == sorted(
        f"proof/{TN}/{f['sha256']}.{ext}"
        for f, ext in zip(answer["files"], ("png", "jpg", "webp"), strict=True)
    )
    for f in answer["files"]:
        ext = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}[f["content_type"]]
        on_disk = (blobs / "proof" / TN / f"{f['sha256']}.{ext}").read_bytes()
        assert hashlib.sha256(on_disk).hexdigest() == f["sha256"]


def test_public_tracking_shows_only_that_proof_exists_and_when(app: tuple[Api, Path]) -> None:
    api, _ = app
    deliver_with_proof(api)
    document = api.track(TN).json()
    assert document["status"] == "DELIVERED"
    assert document["proof_of_delivery"] == {
        "available": True,
        "delivered_at": "2026-11-24T14:15:00-05:00",
        "signature": True,
        "photos": 2,
        "left_at": "Front door",
    }
    text = api.track(TN).text
    for private in ("Whitfield", "33.75", "-84.38", "proof/", "sha256", "/v1/proof/files"):
        assert private not in text


def test_a_png_named_jpg_is_taken_by_its_content(app: tuple[Api, Path]) -> None:
    api, _ = app
    response = upload(api, delivered(), [("photo", ("photo.jpg", png(), "image/jpeg"))])
    assert response.status_code == 200, response.text
    assert response.json()["files"][0]["content_type"] == "image/png"


def test_a_pdf_named_jpg_is_refused_415_naming_the_part_and_nothing_is_stored(
    app: tuple[Api, Path],
) -> None:
    api, blobs = app
    response = upload(
        api,
        delivered(),
        [
            ("photo", ("ok.png", png(), "image/png")),
            ("photo", ("photo.jpg", PDF, "image/jpeg")),
        ],
    )
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert error["field"] == "photo[2]"
    assert "PDF" in error["reason"]
    assert "JPEG, PNG or WebP" in error["reason"]
    assert stored_files(blobs) == []


def test_a_file_over_the_limit_is_refused_413_while_it_is_read(app: tuple[Api, Path]) -> None:
    api, blobs = app
    big = png() + b"\x00" * (64 * 1024)
    response = upload(api, delivered(), [("signature", ("sig.png", big, "image/png"))])
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "file_too_large",
        "field": "signature",
        "reason": "the file is larger than 65536 bytes",
    }
    assert stored_files(blobs) == []


def test_more_photos_than_allowed_are_refused(app: tuple[Api, Path]) -> None:
    api, blobs = app
    photos: Files = [("photo", (f"{n}.png", png(seed=n), "image/png")) for n in range(4)]
    response = upload(api, delivered(), photos)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_files"
    assert response.json()["error"]["field"] == "photo"
    two_signatures: Files = [("signature", (f"{n}.png", png(seed=n), "image/png")) for n in (1, 2)]
    assert upload(api, delivered(), two_signatures).status_code == 422
    assert stored_files(blobs) == []


def test_proof_on_a_scan_that_is_not_a_delivery_is_refused(app: tuple[Api, Path]) -> None:
    api, blobs = app
    not_delivered = scan(hour=9, code="OUT_FOR_DELIVERY")
    response = upload(api, not_delivered, [("photo", ("p.png", png(), "image/png"))])
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "scan.status_code"
    assert stored_files(blobs) == []

    batch = api.post(
        "/v1/scans", {"scans": [scan(hour=9, code="OUT_FOR_DELIVERY", proof=PROOF)]}
    ).json()
    assert batch["accepted"] == 0
    assert batch["errors"] == [
        {
            "index": 0,
            "field": "proof",
            "reason": "only a DELIVERED scan carries proof of delivery",
            "code": "proof_not_allowed",
        }
    ]


def test_a_bad_scan_part_is_refused_naming_its_field_and_nothing_is_stored(
    app: tuple[Api, Path],
) -> None:
    api, blobs = app
    photo: Files = [("photo", ("p.png", png(), "image/png"))]
    bad_time = upload(api, delivered(timestamp="yesterday"), photo)
    assert bad_time.status_code == 422
    assert bad_time.json()["error"]["field"] == "scan.timestamp"
    bad_gps = upload(api, delivered(proof={"location": {"latitude": 91, "longitude": 0}}), photo)
    assert bad_gps.status_code == 422
    assert bad_gps.json()["error"]["field"] == "scan.proof.location.latitude"
    missing = upload(api, None, photo)
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "scan"
    unknown = upload(api, delivered(), [("selfie", ("p.png", png(), "image/png"))])
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_part"
    assert stored_files(blobs) == []


def test_the_upload_needs_multipart_and_a_scans_write_key(app: tuple[Api, Path]) -> None:
    api, _ = app
    as_json = api.post("/v1/scans/proof", {"scan": delivered()}, scope="scans:write")
    assert as_json.status_code == 415
    anonymous = api.client.post("/v1/scans/proof", files={"photo": ("p.png", png())})
    assert anonymous.status_code == 401
    shipper = upload(api, delivered(), [], scope="packages:write")
    assert shipper.status_code == 403


def test_resending_the_same_upload_is_a_duplicate_and_stores_nothing_new(
    app: tuple[Api, Path],
) -> None:
    api, blobs = app
    first = deliver_with_proof(api)
    before = stored_files(blobs)
    again = upload(
        api,
        delivered(proof=PROOF),
        [
            ("signature", ("signature.png", png(seed=1), "image/png")),
            ("photo", ("door.jpg", JPEG, "image/jpeg")),
            ("photo", ("porch.webp", WEBP, "image/webp")),
        ],
    )
    assert again.status_code == 200
    assert again.json()["accepted"] == 0
    assert again.json()["duplicates"] == 1
    assert again.json()["files"] == first["files"]
    assert stored_files(blobs) == before


def test_a_json_delivery_may_carry_a_signer_and_gps_point_without_files(
    app: tuple[Api, Path],
) -> None:
    api, _ = app
    api.post("/v1/packages", PACKAGE, scope="packages:write")
    answer = api.post(
        "/v1/scans",
        {
            "scans": [
                delivered(proof={"signed_by": "D. Whitfield", "location": GPS}),
                scan(
                    tn=TN,
                    hour=15,
                    code="DELIVERED",
                    proof={"location": {"latitude": 0, "longitude": 181}},
                ),
            ]
        },
        scope="scans:write",
    ).json()
    assert answer["accepted"] == 1
    assert answer["errors"][0]["index"] == 1
    assert answer["errors"][0]["field"] == "proof.location.longitude"

    document = api.wait_for(TN, lambda d: d["proof_of_delivery"] is not None)
    assert document["proof_of_delivery"] == {
        "available": True,
        "delivered_at": "2026-11-24T14:15:00-05:00",
        "signature": True,
        "photos": 0,
    }
    private = api.client.get(f"/v1/track/{TN}/proof", params={"postal_code": "30301"}).json()
    assert private["signed_by"] == "D. Whitfield"
    assert private["location"] == GPS
    assert private["files"] == []


def test_the_destination_postal_code_opens_the_private_proof(app: tuple[Api, Path]) -> None:
    api, _ = app
    deliver_with_proof(api)
    for postal_code in ("30301", "30301-4402", " 303 01 ", "303014402"):
        response = api.client.get(f"/v1/track/{TN}/proof", params={"postal_code": postal_code})
        assert response.status_code == 200, (postal_code, response.text)
        assert response.headers["cache-control"] == "private, no-store"
        body = response.json()
        assert body["signed_by"] == "D. Whitfield"
        assert body["left_at"] == "Front door"
        assert body["location"] == GPS
        assert body["delivered_at"] == "2026-11-24T14:15:00-05:00"
        assert [f["kind"] for f in body["files"]] == ["signature", "photo", "photo"]
        assert all("/v1/proof/files/" in f["url"] for f in body["files"])


def test_a_wrong_or_missing_postal_code_is_403_without_saying_which(
    app: tuple[Api, Path],
) -> None:
    api, _ = app
    deliver_with_proof(api)
    wrong = api.client.get(f"/v1/track/{TN}/proof", params={"postal_code": "30302"})
    missing = api.client.get(f"/v1/track/{TN}/proof")
    assert wrong.status_code == missing.status_code == 403
    assert wrong.json() == missing.json()
    assert "Whitfield" not in wrong.text
    unknown = api.client.get("/v1/track/1Z879E930346834440/proof", params={"postal_code": "30301"})
    assert unknown.status_code == 404
    malformed = api.client.get("/v1/track/1Z123/proof", params={"postal_code": "30301"})
    assert malformed.status_code == 400


def test_guessing_postal_codes_is_stopped_after_ten_wrong_ones(app: tuple[Api, Path]) -> None:
    api, _ = app
    deliver_with_proof(api)
    for guess in range(10):
        wrong = api.client.get(f"/v1/track/{TN}/proof", params={"postal_code": f"1000{guess}"})
        assert wrong.status_code == 403
    locked = api.client.get(f"/v1/track/{TN}/proof", params={"postal_code": "30301"})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert api.client.get(f"/v1/track/{TN}/proof", headers=_bearer(api, "admin")).status_code == 200


def test_an_admin_key_opens_the_private_proof_and_other_keys_do_not(
    app: tuple[Api, Path],
) -> None:
    api, _ = app
    deliver_with_proof(api)
    admin = api.client.get(f"/v1/track/{TN}/proof", headers=_bearer(api, "admin"))
    assert admin.status_code == 200
    assert admin.json()["signed_by"] == "D. Whitfield"
    scanner = api.client.get(
        f"/v1/track/{TN}/proof",
        params={"postal_code": "30301"},
        headers=_bearer(api, "scans:write"),
    )
    assert scanner.status_code == 403


def test_a_package_without_proof_is_404_once_the_postal_code_is_right(
    app: tuple[Api, Path],
) -> None:
    api, _ = app
    api.post("/v1/packages", PACKAGE, scope="packages:write")
    api.post("/v1/scans", {"scans": [delivered()]}, scope="scans:write")
    api.wait_for(TN, lambda d: d["status"] == "DELIVERED")
    assert api.track(TN).json()["proof_of_delivery"] is None
    right = api.client.get(f"/v1/track/{TN}/proof", params={"postal_code": "30301"})
    assert right.status_code == 404
    wrong = api.client.get(f"/v1/track/{TN}/proof", params={"postal_code": "99999"})
    assert wrong.status_code == 403


def test_a_signed_file_link_serves_the_image_then_expires(app: tuple[Api, Path]) -> None:
    api, _ = app
    deliver_with_proof(api)
    body = api.client.get(f"/v1/track/{TN}/proof", params={"postal_code": "30301"}).json()
    signature, door, porch = body["files"]
    for file, data in ((signature, png(seed=1)), (door, JPEG), (porch, WEBP)):
        served = api.client.get(urlsplit(file["url"]).path)
        assert served.status_code == 200
        assert served.content == data
        assert served.headers["content-type"] == file["content_type"]
        assert served.headers["cache-control"].startswith("private")
        assert served.headers["x-content-type-options"] == "nosniff"
    time.sleep(2.05)
    expired = api.client.get(urlsplit(signature["url"]).path)
    assert expired.status_code == 403
    assert expired.json()["error"]["code"] == "forbidden"


def test_a_forged_or_garbled_file_link_is_403(app: tuple[Api, Path]) -> None:
    api, _ = app
    deliver_with_proof(api)
    body = api.client.get(f"/v1/track/{TN}/proof", params={"postal_code": "30301"}).json()
    path = urlsplit(body["files"][0]["url"]).path
    token = path.rsplit("/", 1)[1]
    flipped = token[:12] + ("A" if token[12] != "A" else "B") + token[13:]
    for bad in (flipped, token[:-2], "not-a-token", "%00%01"):
        response = api.client.get(f"/v1/proof/files/{bad}")
        assert response.status_code == 403, bad
        assert response.json()["error"]["code"] == "forbidden"


def _bearer(api: Api, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.keys[scope]}"}


def test_an_upload_with_nothing_in_it_is_a_plain_delivery(app: tuple[Api, Path]) -> None:
    api, blobs = app
    api.post("/v1/packages", PACKAGE, scope="packages:write")
    response = upload(api, delivered(proof={"signed_by": "   "}), [])
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert response.json()["files"] == []
    document = api.wait_for(TN, lambda d: d["status"] == "DELIVERED")
    assert document["proof_of_delivery"] is None
    assert stored_files(blobs) == []
