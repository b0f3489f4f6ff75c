"""Expiring signed links to proof-of-delivery files, for blob stores that cannot sign (a local
folder): `GET /v1/proof/files/{token}`.

A token is the expiry time and the blob key, followed by a truncated HMAC-SHA256 under the app's
signing secret (with a purpose label, so an unsubscribe token never passes as a file link).
Whoever holds the link may fetch that one file until it expires; nobody can forge another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

_PURPOSE = b"parcelstream proof file link\x00"
_SIGNATURE_BYTES = 16
_EXPIRY = struct.Struct(">Q")


class FileLinks:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def token(self, key: str, expires_at: int) -> str:
        """A token for `key`, valid until `expires_at` (UTC epoch seconds)."""
        payload = _EXPIRY.pack(expires_at) + key.encode()
        return _b64(payload + self._sign(payload))

    def read(self, token: str, now: int) -> tuple[str, int] | None:
        """(the key, its expiry) of a genuine, unexpired token; None for anything else."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return None
        payload, signature = raw[:-_SIGNATURE_BYTES], raw[-_SIGNATURE_BYTES:]
        if len(payload) <= _EXPIRY.size or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        (expires_at,) = _EXPIRY.unpack_from(payload)
        if now >= expires_at:
            return None
        try:
            return payload[_EXPIRY.size :].decode(), expires_at
        except UnicodeDecodeError:
            return None

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, _PURPOSE + payload, hashlib.sha256).digest()[
            :_SIGNATURE_BYTES
        ]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
