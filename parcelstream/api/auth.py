"""API keys: `Authorization: Bearer KEY`, stored as SHA-256 hashes, checked against a scope."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence

from starlette.requests import Request

from parcelstream.domain.errors import RejectedInput, Rejection
from parcelstream.storage.ports import ApiKey, KeyStore

SCOPES = ("scans:write", "packages:write", "admin")
_KEY_PREFIX = "psk_"
_CACHE_SECONDS = 30.0


def hash_secret(secret: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(store: KeyStore, name: str, scopes: Sequence[str]) -> str:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(
            f"scopes must be among {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}"
        )
    key_id = secrets.token_hex(6)
    secret = f"{_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    await store.add_key(key_id, name, sorted(set(scopes)), hash_secret(secret))
    return secret


class Authenticator:
    """Answers "may this request do X?" with a short-lived cache so a key costs one read a while."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    async def require(self, request: Request, scope: str) -> ApiKey:
        header = request.headers.get("authorization", "")
        kind, _, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            raise RejectedInput(
                Rejection(
                    "Authorization",
                    "send an API key as 'Authorization: Bearer KEY'",
                    "unauthorized",
                )
            )
        key = await self._lookup(hash_secret(secret.strip()))
        if key is None:
            raise RejectedInput(Rejection("Authorization", "unknown API key", "unauthorized"))
        if scope not in key.scopes and "admin" not in key.scopes:
            raise RejectedInput(
                Rejection("Authorization", f"this key lacks the scope {scope}", "forbidden")
            )
        return key

    async def _lookup(self, secret_hash: str) -> ApiKey | None:
        now = time.monotonic()
        hit = self._cache.get(secret_hash)
        if hit is not None and hit[0] > now:
            return hit[1]
        key = await self._store.find_key(secret_hash)
        if len(self._cache) > 10_000:
            self._cache.clear()
        # Unknown keys are remembered briefly too, so a flood of bad keys stays off the database.
        self._cache[secret_hash] = (now + (_CACHE_SECONDS if key else 2.0), key)
        return key
