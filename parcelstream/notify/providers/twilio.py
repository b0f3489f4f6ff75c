"""SMS through Twilio's Messages API, and the check for Twilio's signed status callbacks.

Base URL: `PARCELSTREAM_TWILIO_BASE_URL` (default https://api.twilio.com). A send is
`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth (account SID, auth token),
form-encoded; 201 carries the message SID (`SM…`) that status callbacks name as `MessageSid`.
A sender starting with `MG` is a Messaging Service and goes out as `MessagingServiceSid`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

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

Params = Mapping[str, str] | Iterable[tuple[str, str]]
"""POST parameters: a plain mapping, or (name, value) pairs when a name repeats."""


class TwilioProvider:
    name: str = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        base_url: str = "https://api.twilio.com",
        status_callback: str | None = None,
        *,
        timeout: Timeout | None = None,
    ) -> None:
        self._auth = (account_sid, auth_token)
        self._sender = sender
        self._status_callback = status_callback
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._client = new_client(timeout)

    async def send(self, message: Message) -> Sent:
        if not message.text:
            raise ProviderError("twilio: SMS without a body", retryable=False)
        form = {"To": message.to, "Body": message.text}
        form["MessagingServiceSid" if self._sender.startswith("MG") else "From"] = self._sender
        if self._status_callback:
            form["StatusCallback"] = self._status_callback
        secrets = (self._auth[1],)
        response = await post(
            self._client, self.name, self._url, secrets=secrets, data=form, auth=self._auth
        )
        raise_for_status(response, self.name, secrets=secrets, describe=_describe)
        body = json_or_none(response)
        # A 201 means Twilio queued the SMS; an unreadable body must not make us send it twice.
        sid = body.get("sid") if isinstance(body, dict) else None
        return Sent(self.name, sid if isinstance(sid, str) else None)

    async def close(self) -> None:
        await self._client.aclose()


def twilio_signature(auth_token: str, url: str, params: Params) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 over the full URL, then each POST parameter sorted by
    name (a repeated name's distinct values sorted too) as name followed by value."""
    pairs = params.items() if isinstance(params, Mapping) else params
    values: dict[str, set[str]] = {}
    for key, value in pairs:
        values.setdefault(key, set()).add(value)
    signed = url + "".join(key + value for key in sorted(values) for value in sorted(values[key]))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_twilio_signature(auth_token: str, url: str, params: Params, signature: str) -> bool:
    """Whether a status callback came from Twilio. `url` is the callback URL as Twilio called it,
    query string included. Twilio signs https URLs with or without the default port depending on
    the request, so both spellings are accepted."""
    pairs = list(params.items() if isinstance(params, Mapping) else params)
    given = signature.encode()  # as bytes: compare_digest refuses non-ASCII str
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, pairs).encode(), given)
        for candidate in _port_spellings(url)
    )


def _port_spellings(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or parts.hostname is None:
        return [url]
    host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = parts.netloc[: len(parts.netloc) - len(host)]
    if parts.port is None:
        other = f"{userinfo}{host}:{default}"
    elif parts.port == default:
        other = userinfo + host.rsplit(":", 1)[0]
    else:
        return [url]
    return [url, urlunsplit(parts._replace(netloc=other))]


def _describe(response: Reply) -> tuple[str | None, str]:
    body = json_or_none(response)
    if isinstance(body, dict) and "message" in body:
        code = body.get("code")
        return (str(code) if code is not None else None), first_line(str(body["message"]))
    return None, first_line(response.text)
