"""E-mail through SendGrid's v3 Mail Send API (`POST /v3/mail/send`).

Base URL: `PARCELSTREAM_SENDGRID_BASE_URL` (default https://api.sendgrid.com). SendGrid answers
202 with the message's id in `X-Message-Id`; its event webhook reports `sg_message_id` (that id
plus a suffix) and our `custom_args.event_id`, either of which matches an event to its receipt.
"""

from __future__ import annotations

import email.utils
from typing import Any

from parcelstream.notify.providers.base import Message, ProviderError, Sent
from parcelstream.notify.providers.transport import (
    Reply,
    Timeout,
    first_line,
    json_or_none,
    new_client,
    post,
    raise_for_status,
)


class SendGridProvider:
    name: str = "sendgrid"

    def __init__(
        self,
        api_key: str,
        sender: str,
        base_url: str = "https://api.sendgrid.com",
        *,
        timeout: Timeout | None = None,
    ) -> None:
        self._api_key = api_key
        self._from = _address(sender)
        self._url = base_url.rstrip("/") + "/v3/mail/send"
        self._client = new_client(timeout)

    async def send(self, message: Message) -> Sent:
        response = await post(
            self._client,
            self.name,
            self._url,
            secrets=(self._api_key,),
            json=self._payload(message),
            headers={"Authorization": f"Bearer {self._api_key}"},
        )
        raise_for_status(response, self.name, secrets=(self._api_key,), describe=_describe)
        return Sent(self.name, response.headers.get("X-Message-Id"))

    async def close(self) -> None:
        await self._client.aclose()

    def _payload(self, message: Message) -> dict[str, Any]:
        # SendGrid refuses a missing subject and an empty content value with a 400; saying so
        # here keeps a rendering bug from looking like a provider fault.
        if not message.subject:
            raise ProviderError("sendgrid: e-mail without a subject", retryable=False)
        content = [
            {"type": kind, "value": value}
            for kind, value in (("text/plain", message.text), ("text/html", message.html))
            if value
        ]
        if not content:
            raise ProviderError("sendgrid: e-mail without a body", retryable=False)
        payload: dict[str, Any] = {
            "personalizations": [{"to": [{"email": message.to}]}],
            "from": self._from,
            "subject": message.subject,
            "content": content,
            "custom_args": {"event_id": message.event_id},
        }
        if message.unsubscribe_url:
            payload["headers"] = {
                "List-Unsubscribe": f"<{message.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        return payload


def _address(sender: str) -> dict[str, str]:
    """`Parcelstream <noreply@example.com>` as SendGrid's {"email", "name"}."""
    name, addr = email.utils.parseaddr(sender)
    if not addr:
        raise ValueError(f"not an e-mail address: {sender!r}")
    return {"email": addr, "name": name} if name else {"email": addr}


def _describe(response: Reply) -> tuple[str | None, str]:
    body = json_or_none(response)
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        messages = [
            str(error.get("message"))
            for error in body["errors"]
            if isinstance(error, dict) and error.get("message")
        ]
        if messages:
            return None, first_line("; ".join(messages))
    return None, first_line(response.text)
