"""A local SendGrid v3 Mail Send endpoint that checks the bearer key and the payload's shape."""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from tests.providers.fakes.server import Accepted, FakeServer, Received, json_response

_KNOWN_FIELDS = {
    "personalizations", "from", "reply_to", "reply_to_list", "subject", "content", "attachments",
    "template_id", "headers", "categories", "custom_args", "send_at", "batch_id", "asm",
    "ip_pool_name", "mail_settings", "tracking_settings",
}  # fmt: skip
# Headers SendGrid refuses in `headers`: it sets them itself.
_RESERVED_HEADERS = {
    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
    "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc",
}  # fmt: skip


class FakeSendGrid(FakeServer):
    """`accepted[i].content` is the JSON payload; `accepted[i].id` the X-Message-Id answered."""

    def __init__(self, api_key: str = "SG.fake-key.0123456789") -> None:
        super().__init__()
        self.api_key = api_key

    def _routes(self) -> list[Route]:
        return [self._route("/v3/mail/send", "send", self._send)]

    def _error_body(self, route: str, status: int) -> bytes:
        return json.dumps(
            {"errors": [{"message": f"fake failure {status}", "field": None}]}
        ).encode()

    async def _send(self, received: Received) -> Response:
        if received.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._refuse(
                "authorization is not the bearer API key",
                401,
                _errors("The provided authorization grant is invalid, expired, or revoked"),
            )
        if not received.headers.get("content-type", "").startswith("application/json"):
            return self._refuse("content type is not JSON", 415, _errors("Unsupported Media Type"))
        try:
            payload = received.json()
        except ValueError:
            return self._refuse("body is not JSON", 400, _errors("Bad Request"))
        problems = _check_mail(payload)
        if problems:
            self.problems.extend(problems)
            return json_response({"errors": [{"message": p} for p in problems]}, 400)
        message_id = secrets.token_urlsafe(16)
        self.accepted.append(Accepted(message_id, payload, received))
        return Response(status_code=202, headers={"X-Message-Id": message_id})


def _errors(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": None, "help": None}]}


def _check_mail(payload: Any) -> list[str]:
    """What SendGrid's validation would say about a v3 mail/send payload (the parts we use)."""
    if not isinstance(payload, dict):
        return ["payload is not a JSON object"]
    problems = [f"unknown field {name!r}" for name in payload if name not in _KNOWN_FIELDS]
    personalizations = payload.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append("personalizations must be a non-empty list")
        personalizations = []
    for p in personalizations:
        to = p.get("to") if isinstance(p, dict) else None
        if not isinstance(to, list) or not to or not all(_is_address(a) for a in to):
            problems.append("each personalization needs to: [{email}]")
    if not _is_address(payload.get("from")):
        problems.append("from must be {email[, name]}")
    subject = payload.get("subject")
    if not (isinstance(subject, str) and subject) and "template_id" not in payload:
        problems.append("the subject is required")
    content = payload.get("content")
    if not isinstance(content, list) or not content:
        problems.append("content must be a non-empty list")
        content = []
    for part in content:
        if not (isinstance(part, dict) and set(part) == {"type", "value"}):
            problems.append("each content item is {type, value}")
        elif not (isinstance(part["value"], str) and part["value"]):
            problems.append("the content value must be a string at least one character long")
    types = [part.get("type") for part in content if isinstance(part, dict)]
    if "text/plain" in types and types[0] != "text/plain":
        problems.append("the text/plain content type must be first")
    problems += _check_strings("headers", payload.get("headers", {}))
    headers = payload.get("headers", {})
    if isinstance(headers, dict):
        problems += [f"reserved header {h!r}" for h in headers if h.lower() in _RESERVED_HEADERS]
    problems += _check_strings("custom_args", payload.get("custom_args", {}))
    return problems


def _is_address(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("email"), str)
        and "@" in value["email"]
        and set(value) <= {"email", "name"}
    )


def _check_strings(name: str, value: Any) -> list[str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return [f"{name} must map strings to strings"]
    return []
