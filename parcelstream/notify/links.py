"""Signed one-click unsubscribe links, short enough to leave room in a 160-character SMS.

A token names either an explicit subscription (by its random id) or an automatic one (its role
and channel on a package), followed by a truncated HMAC: whoever holds the link may stop that one
subscription, and nobody can forge a link for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

_SIGNATURE_BYTES = 8
_EXPLICIT = 0x01
# Automatic subscriptions by (role, channel); the number after the kind byte is the package's.
_AUTOMATIC = {
    0x10: "recipient:email",
    0x11: "recipient:sms",
    0x20: "shipper:email",
    0x21: "shipper:sms",
}
_AUTOMATIC_KIND = {name: kind for kind, name in _AUTOMATIC.items()}


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    subscription_id: str
    """"sub_…" for an explicit subscription, "recipient:sms"-style for an automatic one."""
    tracking_number: str | None = None
    """Set for automatic subscriptions (their id is only unique within the package)."""


class LinkSigner:
    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = secret
        self._public_url = public_url.rstrip("/")

    def unsubscribe_url(self, request: Unsubscribe) -> str:
        return f"{self._public_url}/u/{self.token(request)}"

    def tracking_url(self, tracking_number: str) -> str:
        return f"{self._public_url}/v1/track/{tracking_number}"

    def token(self, request: Unsubscribe) -> str:
        kind = _AUTOMATIC_KIND.get(request.subscription_id)
        if kind is not None and request.tracking_number:
            payload = bytes([kind]) + request.tracking_number.encode()
        else:
            payload = bytes([_EXPLICIT]) + bytes.fromhex(
                request.subscription_id.removeprefix("sub_")
            )
        return _b64(payload + self._sign(payload))

    def read(self, token: str) -> Unsubscribe | None:
        """The request a genuine token stands for; None for anything forged or garbled."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return None
        payload, signature = raw[:-_SIGNATURE_BYTES], raw[-_SIGNATURE_BYTES:]
        if len(payload) < 2 or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        if payload[0] == _EXPLICIT:
            return Unsubscribe("sub_" + payload[1:].hex())
        name = _AUTOMATIC.get(payload[0])
        return Unsubscribe(name, payload[1:].decode()) if name else None

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
