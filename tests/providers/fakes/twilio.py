"""A local Twilio Messages API that checks Basic auth and the form fields, and can play Twilio's
signed status callback back to the URL a message asked for."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx2
from starlette.responses import Response
from starlette.routing import Route

from tests.providers.fakes.server import Accepted, FakeServer, Received, json_response

_E164 = re.compile(r"\+[1-9]\d{1,14}")
_ALPHANUMERIC_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")


class FakeTwilio(FakeServer):
    """`accepted[i].content` is the form (To, From, Body, StatusCallback…); `accepted[i].id` the
    message SID answered."""

    def __init__(
        self, account_sid: str = "AC" + "0123456789abcdef" * 2, auth_token: str = "fake-auth-token"
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token

    def _routes(self) -> list[Route]:
        path = "/2010-04-01/Accounts/{account_sid}/Messages.json"
        return [self._route(path, "send", self._send)]

    def _error_body(self, route: str, status: int) -> bytes:
        code = 20429 if status == 429 else 20500
        return json.dumps(_error(code, f"fake failure {status}", status)).encode()

    async def status_callback(
        self, sid: str, status: str, *, error_code: str | None = None
    ) -> httpx2.Response:
        """POST Twilio's status callback for message `sid` to its StatusCallback URL, signed
        with X-Twilio-Signature as Twilio signs it."""
        matches = [m for m in self.accepted if m.id == sid]
        if not matches:
            raise KeyError(f"FakeTwilio sent no message {sid}")
        message = matches[0]
        url = message.content["StatusCallback"]
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message.content.get("From", ""),
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.content["To"],
        }
        if error_code is not None:
            params["ErrorCode"] = error_code
        signature = _signature(self.auth_token, url, params)
        async with httpx2.AsyncClient() as client:
            return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})

    async def _send(self, received: Received) -> Response:
        if received.headers.get("authorization") != _basic(self.account_sid, self.auth_token):
            return self._refuse(
                "authorization is not Basic account SID:auth token",
                401,
                _error(20003, "Authenticate", 401),
            )
        path_sid = received.path.split("/")[3]
        if path_sid != self.account_sid:
            return self._refuse(
                f"account {path_sid} in the URL", 404, _error(20404, "Resource not found", 404)
            )
        if not received.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return self._refuse("body is not form-encoded", 400, _error(21601, "Bad body", 400))
        form = received.form()
        refusal = _check_form(form)
        if refusal is not None:
            code, reason = refusal
            return self._refuse(reason, 400, _error(code, reason, 400))
        sid = "SM" + secrets.token_hex(16)
        self.accepted.append(Accepted(sid, dict(form), received))
        return json_response(self._resource(sid, form), 201)

    def _resource(self, sid: str, form: dict[str, str]) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC))
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "sid": sid,
            "status": "queued",
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }


def _check_form(form: dict[str, str]) -> tuple[int, str] | None:
    """Twilio's refusal (error code, message) for a Messages create form, or None."""
    if not _E164.fullmatch(form.get("To", "")):
        return 21211, f"Invalid 'To' Phone Number: {form.get('To', '')}"
    sender = form.get("From")
    if sender is None and not form.get("MessagingServiceSid", "").startswith("MG"):
        return 21603, "A 'From' phone number is required."
    if sender is not None and not (
        _E164.fullmatch(sender) or _ALPHANUMERIC_SENDER.fullmatch(sender)
    ):
        return 21212, f"Invalid From Number: {sender}"
    if not form.get("Body"):
        return 21602, "Message body is required."
    if len(form["Body"]) > 1600:
        return 21617, "The concatenated message body exceeds the 1600 character limit."
    callback = form.get("StatusCallback")
    if callback is not None and not callback.startswith(("http://", "https://")):
        return 21609, "Invalid StatusCallback url"
    return None


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    # Written out here rather than imported from the provider: the fake is the independent side.
    signed = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(
        hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()
