"""Signed one-click unsubscribe links: whoever holds the link may stop that one subscription,
and nobody can forge a link for another."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import msgspec


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    tracking_number: str
    subscription_id: str
    channel: str
    address: str


class LinkSigner:
    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = secret
        self._public_url = public_url.rstrip("/")

    def unsubscribe_url(self, request: Unsubscribe) -> str:
        return f"{self._public_url}/v1/notifications/unsubscribe/{self.token(request)}"

    def tracking_url(self, tracking_number: str) -> str:
        return f"{self._public_url}/v1/track/{tracking_number}"

    def token(self, request: Unsubscribe) -> str:
        payload = _b64(
            msgspec.msgpack.encode(
                [request.tracking_number, request.subscription_id, request.channel, request.address]
            )
        )
        return f"{payload}.{self._signature(payload)}"

    def read(self, token: str) -> Unsubscribe | None:
        """The request a genuine token stands for; None for anything forged or garbled."""
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._signature(payload)):
            return None
        try:
            fields = msgspec.msgpack.decode(_unb64(payload), type=tuple[str, str, str, str])
        except (ValueError, msgspec.DecodeError):
            return None
        return Unsubscribe(*fields)

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()
        return _b64(digest[:18])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
