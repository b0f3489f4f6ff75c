"""Provider status callbacks (Twilio's status callback, SendGrid's event webhook): each checked
to come from the provider, then turned into receipts on the deliveries they name."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from parcelstream.domain.errors import RejectedInput, Rejection
from parcelstream.notify.providers.twilio import verify_twilio_signature
from parcelstream.storage.ports import NotificationQueue


class SendGridEvent(msgspec.Struct):
    event: str
    sg_message_id: str | None = None


_events = msgspec.json.Decoder(list[SendGridEvent])


class Receipts:
    def __init__(
        self,
        queue: NotificationQueue,
        *,
        twilio_auth_token: str | None,
        twilio_callback_url: str,
        sendgrid_public_key: str | None,
    ) -> None:
        self._queue = queue
        self._twilio_token = twilio_auth_token
        self._twilio_url = twilio_callback_url
        self._sendgrid_key = (
            load_der_public_key(base64.b64decode(sendgrid_public_key))
            if sendgrid_public_key
            else None
        )

    async def twilio(self, form: Mapping[str, str], signature: str | None) -> bool:
        if self._twilio_token is None:
            raise RejectedInput(Rejection(None, "Twilio is not configured", "not_found"))
        if not signature or not verify_twilio_signature(
            self._twilio_token, self._twilio_url, form, signature
        ):
            raise RejectedInput(
                Rejection("X-Twilio-Signature", "not signed by Twilio", "unauthorized")
            )
        sid, status = form.get("MessageSid"), form.get("MessageStatus")
        if not sid or not status:
            raise RejectedInput(Rejection("MessageSid", "MessageSid and MessageStatus needed"))
        return await self._queue.receipt("twilio", sid, status)

    async def sendgrid(self, body: bytes, signature: str | None, timestamp: str | None) -> int:
        if self._sendgrid_key is None:
            raise RejectedInput(
                Rejection(None, "the SendGrid event webhook is not set up", "not_found")
            )
        if (
            not signature
            or not timestamp
            or not self._signed_by_sendgrid(body, signature, timestamp)
        ):
            raise RejectedInput(
                Rejection(
                    "X-Twilio-Email-Event-Webhook-Signature",
                    "not signed by SendGrid",
                    "unauthorized",
                )
            )
        try:
            events = _events.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RejectedInput(
                Rejection(None, f"not a SendGrid event list: {exc}", "malformed")
            ) from None
        updated = 0
        for event in events:
            if event.sg_message_id:
                # SendGrid's sg_message_id is the X-Message-Id we stored, plus ".filter..." parts.
                message_id = event.sg_message_id.split(".", 1)[0]
                updated += await self._queue.receipt("sendgrid", message_id, event.event)
        return updated

    def _signed_by_sendgrid(self, body: bytes, signature: str, timestamp: str) -> bool:
        assert isinstance(self._sendgrid_key, ec.EllipticCurvePublicKey)
        try:
            self._sendgrid_key.verify(
                base64.b64decode(signature),
                timestamp.encode() + body,
                ec.ECDSA(hashes.SHA256()),
            )
        except (InvalidSignature, ValueError):
            return False
        return True
