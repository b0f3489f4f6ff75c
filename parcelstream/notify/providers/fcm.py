"""Push through Firebase Cloud Messaging's HTTP v1 API.

Base URL: `PARCELSTREAM_FCM_BASE_URL` (default https://fcm.googleapis.com). A send is
`POST /v1/projects/{project}/messages:send` with a bearer token from the service account's key
(see google_oauth.py); 200 carries the message's `name`. A device token the app no longer holds
answers 404 with errorCode UNREGISTERED: not retryable, and `ProviderError.code` says so, so the
notifier can drop the subscription.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parcelstream.notify.providers.base import Message, ProviderError, Sent
from parcelstream.notify.providers.google_oauth import ServiceAccountTokens
from parcelstream.notify.providers.transport import (
    Reply,
    Timeout,
    first_line,
    json_or_none,
    new_client,
    post,
    raise_for_status,
)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class FcmProvider:
    name: str = "fcm"

    def __init__(
        self,
        project_id: str,
        service_account: Mapping[str, str],
        base_url: str = "https://fcm.googleapis.com",
        *,
        timeout: Timeout | None = None,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._client = new_client(timeout)
        self._tokens = ServiceAccountTokens(
            self._client, service_account, SCOPE, provider=self.name
        )

    async def send(self, message: Message) -> Sent:
        payload = _payload(message)
        # A 401 with a token we believed fresh means it was revoked or our clock is off:
        # one retry with a newly fetched token, then the 401 stands.
        for fresh_token_retry in (False, True):
            token = await self._tokens.token()
            response = await post(
                self._client,
                self.name,
                self._url,
                secrets=(token,),
                json=payload,
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status_code == 401 and not fresh_token_retry:
                self._tokens.invalidate(token)
                continue
            raise_for_status(response, self.name, secrets=(token,), describe=_describe)
            break
        body = json_or_none(response)
        name = body.get("name") if isinstance(body, dict) else None
        return Sent(self.name, name if isinstance(name, str) else None)

    async def close(self) -> None:
        await self._client.aclose()


def _payload(message: Message) -> dict[str, Any]:
    if not (message.title or message.text or message.data):
        raise ProviderError("fcm: push without a title, body or data", retryable=False)
    fcm_message: dict[str, Any] = {"token": message.to}
    if message.title or message.text:
        notification = {"title": message.title, "body": message.text}
        fcm_message["notification"] = {k: v for k, v in notification.items() if v}
    if message.data:
        fcm_message["data"] = dict(message.data)
    return {"message": fcm_message}


def _describe(response: Reply) -> tuple[str | None, str]:
    """FCM's google.rpc.Status error: the FcmError errorCode (UNREGISTERED, QUOTA_EXCEEDED…) when
    given, else the canonical status (NOT_FOUND, INVALID_ARGUMENT…)."""
    body = json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, first_line(response.text)
    code = error.get("status")
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("errorCode"):
            code = detail["errorCode"]
    return (str(code) if code else None), first_line(str(error.get("message", "")))
