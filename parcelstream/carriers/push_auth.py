"""Is a carrier push authentic? One check per carrier (SPEC.md §5), each over the raw body bytes,
each accepting any of the configured secrets so they can be rotated without downtime.

FedEx signs the body; USPS (as far as third parties say) signs a timestamp and the payload, so
stale USPS pushes can be refused; UPS signs nothing and instead fetches a bearer token from our
own token endpoint (v2) or sends a fixed credential (v1). No clock is read here: `now` is given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec

from parcelstream.domain.errors import Rejection

UNAUTHORIZED = "unauthorized"
STALE = "stale_push"

FEDEX_SIGNATURE_HEADER = "fdx-signature"


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def _matches_any(given: bytes, expected: Sequence[bytes]) -> bool:
    # Every candidate is compared (no early exit), each in constant time.
    found = False
    for candidate in expected:
        found |= hmac.compare_digest(given, candidate)
    return found


def _decode_signature(value: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(value.strip())
        return base64.b64decode(value.strip(), validate=True)
    except (ValueError, binascii.Error):
        return None


# --- FedEx ---------------------------------------------------------------------------------------


def check_fedex(
    headers: Mapping[str, str], body: bytes, secrets_: Sequence[str]
) -> Rejection | None:
    """`fdx-signature` = base64(HMAC-SHA256(security token, raw body))."""
    given = headers.get(FEDEX_SIGNATURE_HEADER)
    if not given:
        return Rejection(FEDEX_SIGNATURE_HEADER, "the push carries no signature", UNAUTHORIZED)
    signature = _decode_signature(given, "base64")
    if signature is None or not _matches_any(signature, [_hmac(s, body) for s in secrets_]):
        return Rejection(
            FEDEX_SIGNATURE_HEADER, "the signature does not match the body", UNAUTHORIZED
        )
    return None


# --- USPS ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UspsRecipe:
    """How USPS signs, kept as settings: third-party sources disagree (SPEC.md §4.4)."""

    header: str = "x-hmac"
    encoding: str = "base64"
    """"base64" or "hex"."""
    message: str = "timestamp+payload"
    """"timestamp+payload" (the envelope's two fields, concatenated) or "body" (raw bytes)."""
    tolerance_us: int = 300 * 1_000_000
    """How far the signed `timestamp` may be from now before the push counts as stale."""


def check_usps(
    headers: Mapping[str, str],
    body: bytes,
    secrets_: Sequence[str],
    recipe: UspsRecipe,
    now_us: int,
) -> Rejection | None:
    header = recipe.header.lower()
    given = headers.get(header)
    if not given:
        return Rejection(header, "the push carries no signature", UNAUTHORIZED)
    signature = _decode_signature(given, recipe.encoding)
    envelope = _usps_envelope(body)
    if recipe.message == "body":
        message: bytes | None = body
    elif envelope is not None and envelope[0] is not None and envelope[1] is not None:
        message = (envelope[0] + envelope[1]).encode()
    else:
        message = None
    if (
        signature is None
        or message is None
        or not _matches_any(signature, [_hmac(s, message) for s in secrets_])
    ):
        return Rejection(header, "the signature does not match the body", UNAUTHORIZED)
    timestamp = envelope[0] if envelope is not None else None
    if timestamp is None:
        return None  # a body-signed push with no timestamp: a replay is a harmless duplicate
    signed_at = _instant_us(timestamp)
    if signed_at is None:
        return Rejection("timestamp", "not an ISO-8601 date-time", UNAUTHORIZED)
    if abs(now_us - signed_at) > recipe.tolerance_us:
        return Rejection(
            "timestamp",
            f"signed {abs(now_us - signed_at) // 1_000_000} s away from now, more than the"
            f" {recipe.tolerance_us // 1_000_000} s allowed: a stale or replayed push",
            STALE,
        )
    return None


def _usps_envelope(body: bytes) -> tuple[str | None, str | None] | None:
    """(timestamp, payload string) of the subscription envelope, when the body is one."""
    try:
        root = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(root, dict):
        return None
    timestamp, payload = root.get("timestamp"), root.get("payload")
    return (
        timestamp if isinstance(timestamp, str) else None,
        payload if isinstance(payload, str) else None,
    )


def _instant_us(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


# --- UPS -----------------------------------------------------------------------------------------

_TOKEN_PREFIX = "psu1"


@dataclass(frozen=True, slots=True)
class UpsAccess:
    client_id: str | None
    client_secrets: tuple[str, ...]
    """v2: what UPS presents (HTTP Basic) to our token endpoint; also the token signing keys."""
    credentials: tuple[str, ...]
    """v1: the fixed credential given to UPS in the subscription's destination."""
    credential_header: str = "authorization"
    token_ttl_us: int = 3600 * 1_000_000


def issue_ups_token(client_id: str, secret: str, now_us: int, ttl_us: int) -> str:
    """A short-lived opaque bearer token that any of our processes can check without storage:
    client id, expiry and a nonce, signed with the client secret (rotating it ends old tokens)."""
    expires = (now_us + ttl_us) // 1_000_000
    nonce = secrets.token_urlsafe(12)
    claims = f"{_TOKEN_PREFIX}.{_b64(client_id.encode())}.{expires}.{nonce}"
    return f"{claims}.{_b64(_hmac(secret, claims.encode()))}"


def check_ups_token(token: str, access: UpsAccess, now_us: int) -> str | None:
    """None when `token` is one we issued, still live; otherwise why not."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != _TOKEN_PREFIX or not access.client_id:
        return "not a token this server issued"
    claims, mac = ".".join(parts[:4]), _unb64(parts[4])
    expected = [_hmac(s, claims.encode()) for s in access.client_secrets]
    if mac is None or not _matches_any(mac, expected):
        return "not a token this server issued"
    if _unb64(parts[1]) != access.client_id.encode():
        return "the token was issued to another client"
    if not parts[2].isdigit() or int(parts[2]) * 1_000_000 <= now_us:
        return "the token has expired; fetch a new one from the token endpoint"
    return None


def check_ups_client(client_id: str, client_secret: str, access: UpsAccess) -> str | None:
    """The token endpoint's check of UPS's client credentials; returns the secret to sign with."""
    if not access.client_id or not access.client_secrets:
        return None
    id_ok = hmac.compare_digest(client_id.encode(), access.client_id.encode())
    found = None
    for secret in access.client_secrets:
        if hmac.compare_digest(client_secret.encode(), secret.encode()):
            found = secret
    return found if id_ok else None


def check_ups(headers: Mapping[str, str], access: UpsAccess, now_us: int) -> Rejection | None:
    """v2: `Authorization: Bearer <our token>` and `x-api-key: <client id>`. v1: the configured
    credential, from `Authorization: <type> <credential>` or from a header named in settings."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    token_problem = "the push carries no credentials"
    if scheme.lower() == "bearer" and value.strip() and access.client_id:
        token_problem = check_ups_token(value.strip(), access, now_us) or ""
        if not token_problem:
            api_key = headers.get("x-api-key", "")
            if hmac.compare_digest(api_key.encode(), access.client_id.encode()):
                return None
            return Rejection("x-api-key", "must be the client id of the token", UNAUTHORIZED)
    if access.credentials:
        header = access.credential_header.lower()
        raw = headers.get(header, "")
        if header == "authorization" and " " in raw.strip():
            raw = raw.strip().partition(" ")[2]
        if raw and _matches_any(raw.strip().encode(), [c.encode() for c in access.credentials]):
            return None
        if not access.client_id:
            return Rejection(header, "the credential does not match", UNAUTHORIZED)
    return Rejection("authorization", token_problem, UNAUTHORIZED)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return None
