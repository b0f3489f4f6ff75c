"""The carriers' OAuth token cache: reused until shortly before expiry, fetched once however many
ask at once, and replaced after the API refuses it."""

from __future__ import annotations

import asyncio

import pytest

from parcelstream.carriers.oauth import Token, TokenCache


class Issuer:
    def __init__(self, lifetime: float = 100.0, delay: float = 0.0) -> None:
        self.issued = 0
        self.lifetime = lifetime
        self.delay = delay

    async def __call__(self) -> Token:
        self.issued += 1
        await asyncio.sleep(self.delay)
        return Token(f"t{self.issued}", self.lifetime)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_token_is_reused_until_shortly_before_it_expires() -> None:
    issuer, clock = Issuer(lifetime=100.0), Clock()
    cache = TokenCache(issuer, margin=60.0, clock=clock)
    assert await cache.token() == "t1"
    clock.now += 89.0  # the margin is at most a tenth of the lifetime: 10 s here
    assert await cache.token() == "t1"
    clock.now += 1.5
    assert await cache.token() == "t2"
    assert issuer.issued == 2


async def test_concurrent_callers_share_one_fetch() -> None:
    issuer = Issuer(delay=0.05)
    cache = TokenCache(issuer)
    tokens = await asyncio.gather(*(cache.token() for _ in range(20)))
    assert set(tokens) == {"t1"}
    assert issuer.issued == 1


async def test_a_refused_token_is_fetched_again_once() -> None:
    issuer = Issuer()
    cache = TokenCache(issuer)
    first = await cache.token()
    cache.refused(first)
    cache.refused(first)  # a second caller that saw the same 401
    assert await asyncio.gather(cache.token(), cache.token()) == ["t2", "t2"]
    cache.refused(first)  # late news about an old token changes nothing
    assert await cache.token() == "t2"
    assert issuer.issued == 2


async def test_a_failed_fetch_is_not_cached() -> None:
    calls = 0

    async def flaky() -> Token:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("token endpoint down")
        return Token("ok", 100.0)

    cache = TokenCache(flaky)
    with pytest.raises(RuntimeError):
        await cache.token()
    assert await cache.token() == "ok"
