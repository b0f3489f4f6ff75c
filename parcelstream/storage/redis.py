"""The read model's fast copy in Redis: one hash per package, written only forward in version.

URL form: ``redis://[[user]:password@]host:6379/0?prefix=ps:`` (``rediss://`` for TLS,
``unix:///path/redis.sock?db=0`` for a local socket). Options in the query string:

| option | default | what it does |
|---|---|---|
| ``prefix`` | ``ps:`` | prepended to every key, so several deployments can share one Redis |
| ``socket_timeout`` | 0.25 | seconds a command may wait for its reply |
| ``socket_connect_timeout`` | 0.25 | seconds to open a connection |
| ``max_connections`` | 64 | pool size |
| ``timeout`` | 0.25 | seconds to wait for a free pooled connection |

The timeouts are short on purpose: a lookup must never hang on a dead Redis; the caller
(storage/read_through.py) answers from PostgreSQL instead. For the same reason the client never
retries a failed command itself: a retry would multiply the time a lookup spends on a dead server.

Layout: one key per package, ``<prefix>doc:<tracking_number>``, a hash with the fields ``v``
(version, decimal), ``e`` (etag), ``s`` (status) and ``b`` (the document bytes, served as stored).
No command touches two keys, so a Redis Cluster may shard the keys freely; code that ever needs
two keys of one package on one node must name them with a ``{tracking_number}`` hash tag.

Guarantees:
- ``put_documents`` writes a document only if its key is absent or holds a lower version (a Lua
  script run by EVALSHA), so processors finishing out of order, lazy write-backs and rebuilds can
  never replace a newer document with an older or equal one, whatever the order of the calls or
  of the documents within one call. Versions are compared exactly at any size.
- All documents of one call go out in one non-transactional pipeline: one round trip. Each key's
  write is atomic; the call as a whole is not (a failure part-way leaves some written, which is
  harmless: the write is idempotent). A failed call raises; a caller that must not leave a stale
  copy behind retries it or runs a rebuild.
- Nothing here is the source of truth. Redis may lose keys (restart, eviction) or lag behind the
  ledger; the read-through refills it from lookups and ``rebuild`` refills it all at once.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from parcelstream.storage.ports import StoredDocument, VersionedDocument

DEFAULT_PREFIX = "ps:"
_SCHEMES = ("redis", "rediss", "unix")

# KEYS[1]: the package's key; ARGV: version, etag, status, body. Versions are non-negative decimal
# strings without leading zeros, so comparing length first and then the text is exact at any size
# (Lua numbers are doubles and would round above 2^53).
_GUARDED_WRITE = """
local current = redis.call('HGET', KEYS[1], 'v')
if current then
  local new = ARGV[1]
  if #current > #new or (#current == #new and current >= new) then
    return 0
  end
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2], 's', ARGV[3], 'b', ARGV[4])
return 1
"""
_GUARDED_WRITE_SHA = hashlib.sha1(_GUARDED_WRITE.encode()).hexdigest()
_READ_FIELDS = ("b", "e", "s")
# The server is gone or not answering (OSError also covers the builtin TimeoutError).
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisDocuments:
    """Implements DocumentSink over one Redis (or one Redis Cluster endpoint's keys)."""

    def __init__(self, url: str, *, prefix: str | None = None) -> None:
        """`prefix`, when given, wins over the URL's; nothing connects until the first command."""
        redis_url, url_prefix = _split_prefix(url)
        self._prefix = url_prefix if prefix is None else prefix
        self._where = _describe(redis_url)
        # Query-string options win over these keyword defaults (redis-py merges them that way).
        pool = BlockingConnectionPool.from_url(
            redis_url,
            socket_timeout=0.25,
            socket_connect_timeout=0.25,
            max_connections=64,
            timeout=0.25,
            retry=Retry(NoBackoff(), retries=0),
        )
        self._client = Redis.from_pool(pool)

    @classmethod
    def from_url(cls, url: str) -> RedisDocuments:
        """The adapter for a ``redis://`` / ``rediss://`` / ``unix://`` URL (see the module doc)."""
        return cls(url)

    def __repr__(self) -> str:
        # Safe to log: the description never carries the password.
        return f"RedisDocuments({self._where}, prefix={self._prefix!r})"

    @property
    def prefix(self) -> str:
        return self._prefix

    async def put_documents(self, documents: Sequence[VersionedDocument]) -> None:
        if not documents:
            return
        for document in documents:
            if document.version < 0:
                raise ValueError(f"{document.tracking_number}: negative version {document.version}")
        try:
            results = await self._write(documents)
        except _UNREACHABLE:
            await self._drop_idle_connections()
            raise
        if any(isinstance(result, NoScriptError) for result in results):
            # A restarted or failed-over server has forgotten the script: load it and replay the
            # whole call; the version guard turns the already-applied writes into no-ops.
            await self._client.script_load(_GUARDED_WRITE)
            results = await self._write(documents)
        for result in results:
            if isinstance(result, Exception):
                raise result

    async def document(self, tracking_number: str) -> StoredDocument | None:
        try:
            reply = await self._client.hmget(self._key(tracking_number), _READ_FIELDS)
        except _UNREACHABLE:
            await self._drop_idle_connections()
            raise
        body, etag, status = reply
        if body is None or etag is None or status is None:
            return None
        return StoredDocument(_as_bytes(body), _as_bytes(etag).decode(), _as_bytes(status).decode())

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()

    async def _write(self, documents: Sequence[VersionedDocument]) -> list[object]:
        async with self._client.pipeline(transaction=False) as pipe:
            for item in documents:
                doc = item.document
                pipe.evalsha(
                    _GUARDED_WRITE_SHA,
                    1,
                    self._key(item.tracking_number),
                    item.version,
                    doc.etag,
                    doc.status,
                    doc.body,
                )
            # Errors come back per command, so a missing script can be told from a real failure.
            results: list[object] = await pipe.execute(raise_on_error=False)
            return results

    async def _drop_idle_connections(self) -> None:
        # After a server restart the idle pooled sockets are dead, and the pool's own check does
        # not always notice (a reset socket does not read as EOF): each would fail one more lookup
        # after the caller saw Redis come back. One failure is reason enough to drop them all.
        with contextlib.suppress(*_UNREACHABLE):
            await self._client.connection_pool.disconnect(inuse_connections=False)

    def _key(self, tracking_number: str) -> str:
        return f"{self._prefix}doc:{tracking_number}"


def _split_prefix(url: str) -> tuple[str, str]:
    """The URL redis-py understands (our own `prefix` option removed) and the key prefix."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"not a Redis URL (expected {', '.join(_SCHEMES)}): {_describe(url)}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for name, value in query if name == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


def _describe(url: str) -> str:
    """The URL without credentials or options, for logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _as_bytes(value: bytes | str) -> bytes:
    # The client is built without decode_responses, so replies are bytes; redis-py's types also
    # allow str, which only a decoding client returns.
    return value if isinstance(value, bytes) else value.encode()
