"""S3-compatible object storage as the blob store (scaled out), through obstore.

URL: `s3://[ACCESS_KEY:SECRET@]bucket[/prefix]?endpoint=http://host:8333&region=us-east-1`.
`endpoint` is for S3-compatible servers (SeaweedFS, MinIO, Ceph; path-style requests, plain HTTP
allowed when the endpoint says http); without it, AWS. Credentials come from the URL, else the
settings `PARCELSTREAM_BLOB_ACCESS_KEY_ID`/`…_SECRET_ACCESS_KEY`, else the usual `AWS_*`
environment. A put is one PUT request (atomic on S3); signed URLs are SigV4 presigned GETs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from parcelstream.storage.blobs.keys import check_key, check_prefix
from parcelstream.storage.ports import BlobInfo, BlobNotFound

if TYPE_CHECKING:
    from obstore import Attributes, ObjectMeta
    from obstore.store import ClientConfig, S3Config

_OPTIONS = {"endpoint", "region"}


class S3BlobStore:
    def __init__(self, store: S3Store, description: str) -> None:
        self._store = store
        self.description = description

    @classmethod
    def from_url(
        cls,
        url: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> S3BlobStore:
        parts = urlsplit(url)
        if parts.scheme != "s3":
            raise ValueError("a blob store URL on S3 starts with s3://")
        bucket = parts.netloc.rpartition("@")[2]
        if not bucket:
            raise ValueError("the blob store URL names no bucket: s3://bucket[/prefix]")
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        unknown = set(query) - _OPTIONS
        if unknown:
            raise ValueError(f"unknown blob store URL options: {', '.join(sorted(unknown))}")
        config: S3Config = {"region": query.get("region", "us-east-1")}
        client: ClientConfig = {"connect_timeout": "5s", "timeout": "60s"}
        endpoint = query.get("endpoint")
        if endpoint:
            config["endpoint"] = endpoint.rstrip("/")
            config["virtual_hosted_style_request"] = False
            client["allow_http"] = endpoint.startswith("http://")
        if parts.username:
            access_key_id = unquote(parts.username)
            secret_access_key = unquote(parts.password or "")
        if access_key_id:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key or ""
        prefix = parts.path.strip("/") or None
        if prefix:
            check_key(prefix)
        store = S3Store(bucket, prefix=prefix, config=config, client_options=client)
        where = f"s3://{bucket}/{prefix or ''}" + (f" at {endpoint}" if endpoint else "")
        return cls(store, where)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        # Everything kept here is private (proof images, facility files): no shared caches,
        # whoever ends up serving it through a presigned link.
        attributes: Attributes = {"Content-Type": content_type, "Cache-Control": "private"}
        await obstore.put_async(self._store, check_key(key), data, attributes=attributes)

    async def get(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, check_key(key))
            return bytes(await result.bytes_async())
        except (NotFoundError, FileNotFoundError):
            raise BlobNotFound(key) from None

    async def stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        try:
            result = await obstore.get_async(self._store, check_key(key))
        except (NotFoundError, FileNotFoundError):
            raise BlobNotFound(key) from None
        async for chunk in result.stream(min_chunk_size=chunk_size):
            yield bytes(chunk)

    async def list(self, prefix: str) -> list[BlobInfo]:
        check_prefix(prefix)
        # obstore lists whole path segments; list the prefix's folder and match the rest here.
        folder = prefix.rpartition("/")[0] or None
        found: list[BlobInfo] = []
        async for chunk in obstore.list(self._store, folder, chunk_size=1000):
            found.extend(_info(meta) for meta in chunk if meta["path"].startswith(prefix))
        found.sort(key=lambda info: info.key)
        return found

    async def delete(self, key: str) -> None:
        with contextlib.suppress(NotFoundError, FileNotFoundError):
            await obstore.delete_async(self._store, check_key(key))

    async def signed_url(self, key: str, expires_in: int) -> str | None:
        return await obstore.sign_async(
            self._store, "GET", check_key(key), timedelta(seconds=expires_in)
        )

    async def ping(self) -> None:
        """Lists one key: fails when the server, the bucket or the credentials are wrong."""
        async for _ in obstore.list(self._store, chunk_size=1):
            break

    async def close(self) -> None:
        return None  # obstore holds a connection pool that closes with the store


def _info(meta: ObjectMeta) -> BlobInfo:
    return BlobInfo(
        key=meta["path"],
        size=meta["size"],
        etag=(meta["e_tag"] or "").strip('"'),
        modified=meta["last_modified"].astimezone(UTC),
    )
