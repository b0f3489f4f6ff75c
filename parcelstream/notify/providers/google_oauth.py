"""OAuth2 access tokens for a Google service account (the two-legged JWT-bearer flow, RFC 7523).

A JWT signed with the service account's RSA key (RS256) is exchanged at the key's `token_uri`
for a bearer token that lasts about an hour; it is reused until a minute before it expires.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from parcelstream.notify.providers.base import ProviderError
from parcelstream.notify.providers.transport import (
    HttpClient,
    Reply,
    first_line,
    json_or_none,
    post,
    raise_for_status,
)

DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600
"""Google's maximum for the assertion's exp - iat."""
REFRESH_MARGIN_S = 60.0
"""Renew this long before expiry, so a token never expires between our check and Google's."""


class ServiceAccountTokens:
    def __init__(
        self,
        client: HttpClient,
        service_account: Mapping[str, str],
        scope: str,
        *,
        provider: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        missing = [k for k in ("client_email", "private_key") if not service_account.get(k)]
        if missing:
            raise ValueError(f"service account key lacks {', '.join(missing)}")
        key = serialization.load_pem_private_key(
            service_account["private_key"].encode(), password=None
        )
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("service account private_key is not an RSA key")
        self._key = key
        self._key_id = service_account.get("private_key_id")
        self._email = service_account["client_email"]
        self._token_uri = service_account.get("token_uri") or DEFAULT_TOKEN_URI
        self._scope = scope
        self._client = client
        self._provider = provider
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        # One fetch at a time: a burst of sends at expiry would otherwise each mint a token.
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, self._renew_at = await self._fetch()
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget a token the API refused (revoked, or our clock is off), so the next call
        fetches a fresh one."""
        if self._token == token:
            self._token = None

    async def _fetch(self) -> tuple[str, float]:
        now = self._clock()
        claims = {
            "iss": self._email,
            "scope": self._scope,
            "aud": self._token_uri,
            "iat": int(now),
            "exp": int(now) + ASSERTION_LIFETIME_S,
        }
        headers = {"kid": self._key_id} if self._key_id else None
        assertion = jwt.encode(claims, self._key, algorithm="RS256", headers=headers)
        secrets = (assertion,)
        response = await post(
            self._client,
            self._provider,
            self._token_uri,
            secrets=secrets,
            data={"grant_type": GRANT_TYPE, "assertion": assertion},
        )
        what = f"{self._provider} token endpoint"
        raise_for_status(response, what, secrets=secrets, describe=_describe)
        body = json_or_none(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            # Nothing was sent yet, so trying again later is safe.
            raise ProviderError(
                f"{self._provider}: token endpoint answered without an access_token",
                retryable=True,
            )
        expires_in = body.get("expires_in", 3600)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        return token, now + max(lifetime - REFRESH_MARGIN_S, lifetime / 2)


def _describe(response: Reply) -> tuple[str | None, str]:
    body = json_or_none(response)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], first_line(str(body.get("error_description", "")))
    return None, first_line(response.text)
