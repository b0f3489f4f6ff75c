"""Proof of delivery scaled out: files on S3 (a real SeaweedFS server), history on PostgreSQL,
and image links presigned by the store itself."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from parcelstream.api.app import create_app
from parcelstream.settings import Settings
from parcelstream.storage.blobs.s3 import S3BlobStore
from tests.backends.postgres import create_database, drop_database
from tests.backends.s3 import SeaweedFS
from tests.images import JPEG, png
from tests.integration.conftest import Api, make_keys
from tests.integration.test_api import PACKAGE, TN, scan


@pytest.fixture
def scaled_out(tmp_path: Path, seaweedfs: SeaweedFS) -> Iterator[tuple[Api, str]]:
    database = asyncio.run(create_database())
    blob_url = seaweedfs.url(f"pod-{uuid.uuid4().hex}")
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database,
        blob_url=blob_url,
        signing_secret="scaled-out-test-secret",
        proof_link_seconds=1,
    )
    try:
        keys = make_keys(settings)
        with TestClient(create_app(settings, with_processor=True)) as client:
            yield Api(client, keys), blob_url
    finally:
        asyncio.run(drop_database(database))


def test_proof_goes_to_s3_and_postgres_and_its_links_are_presigned_and_expire(
    scaled_out: tuple[Api, str], seaweedfs: SeaweedFS
) -> None:
    api, blob_url = scaled_out
    api.post("/v1/packages", PACKAGE, scope="packages:write")
    the_scan = scan(hour=14, code="DELIVERED", proof={"signed_by": "D. Whitfield"})
    response = api.client.post(
        "/v1/scans/proof",
        data={"scan": json.dumps(the_scan)},
        files=[
            ("signature", ("sig.png", png(seed=7), "image/png")),
            ("photo", ("door.jpg", JPEG, "image/jpeg")),
        ],
        headers={"Authorization": f"Bearer {api.keys['scans:write']}"},
    )
    assert response.status_code == 200, response.text
    files = response.json()["files"]

    async def keys_in_bucket() -> list[str]:
        store = S3BlobStore.from_url(blob_url)
        return [info.key for info in await store.list("proof/")]

    assert asyncio.run(keys_in_bucket()) == sorted(
        [f"proof/{TN}/{files[0]['sha256']}.png", f"proof/{TN}/{files[1]['sha256']}.jpg"]
    )

    document = api.wait_for(TN, lambda d: d["proof_of_delivery"] is not None)
    assert document["proof_of_delivery"]["photos"] == 1
    body = api.client.get(f"/v1/track/{TN}/proof", params={"postal_code": "30301"}).json()
    assert body["signed_by"] == "D. Whitfield"
    signature, photo = body["files"]
    assert signature["url"].startswith(seaweedfs.endpoint)
    assert "X-Amz-Signature=" in signature["url"]
    with httpx2.Client() as client:
        for file, data in ((signature, png(seed=7)), (photo, JPEG)):
            fetched = client.get(file["url"])
            assert fetched.status_code == 200
            assert fetched.content == data
            assert fetched.headers["content-type"] == file["content_type"]
        time.sleep(2.2)
        assert client.get(signature["url"]).status_code == 403
