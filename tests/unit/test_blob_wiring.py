"""The blob store is chosen by PARCELSTREAM_BLOB_URL, and its secret never reaches a log line."""

from __future__ import annotations

from pathlib import Path

import pytest

from parcelstream.settings import Settings
from parcelstream.storage.blobs.local import LocalBlobStore
from parcelstream.storage.blobs.s3 import S3BlobStore
from parcelstream.storage.urls import mask_password
from parcelstream.wiring import check_settings, open_blobs

URL = "s3://AKID:topsecret@pod-bucket/prod/files?endpoint=http://127.0.0.1:8333&region=eu-west-1"


def test_no_blob_url_means_a_folder_in_the_data_dir(tmp_path: Path) -> None:
    store, text = open_blobs(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalBlobStore)
    assert store.root == (tmp_path / "blobs").resolve()
    assert str(tmp_path) in text


def test_an_s3_url_opens_s3_and_says_where_without_the_secret(tmp_path: Path) -> None:
    store, text = open_blobs(Settings(data_dir=tmp_path, blob_url=URL))
    assert isinstance(store, S3BlobStore)
    assert "pod-bucket/prod/files" in text
    assert "127.0.0.1:8333" in text
    assert "topsecret" not in text
    assert "topsecret" not in mask_password(URL)


def test_an_unknown_blob_scheme_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"PARCELSTREAM_BLOB_URL=.*Did you mean s3://"):
        check_settings(Settings(data_dir=tmp_path, blob_url="s4://bucket"))


def test_unknown_options_and_a_missing_bucket_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown blob store URL options: endpont"):
        S3BlobStore.from_url("s3://bucket?endpont=http://x")
    with pytest.raises(ValueError, match="names no bucket"):
        S3BlobStore.from_url("s3:///prefix")
