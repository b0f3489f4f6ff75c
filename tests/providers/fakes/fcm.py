"""A local Firebase Cloud Messaging HTTP v1 API and the Google OAuth2 token endpoint in front of
it: the JWT assertion is verified against a key pair made here, the bearer token against the
tokens issued, the message against FCM's schema."""

from __future__ import annotations

import functools
import json
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.responses import Response
from starlette.routing import Route

from tests.providers.fakes.server import Accepted, FakeServer, Received, json_response

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_MESSAGE_FIELDS = {
    "name", "data", "notification", "android", "webpush", "apns", "fcm_options",
    "token", "topic", "condition",
}  # fmt: skip
_CANONICAL = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
}  # fmt: skip
_FCM_ERROR_CODE = {
    400: "INVALID_ARGUMENT", 401: "THIRD_PARTY_AUTH_ERROR", 403: "SENDER_ID_MISMATCH",
    404: "UNREGISTERED", 429: "QUOTA_EXCEEDED", 500: "INTERNAL", 503: "UNAVAILABLE",
}  # fmt: skip


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    # One key per test process: generating RSA keys is the slow part of starting this fake.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeFcm(FakeServer):
    """`accepted[i].content` is the `message` object; `accepted[i].id` its answered name.
    `token_grants` holds the verified JWT claims of each token request."""

    def __init__(self, project_id: str = "parcelstream-test", token_lifetime: int = 3599) -> None:
        super().__init__()
        self.project_id = project_id
        self.token_lifetime = token_lifetime
        self._initial_lifetime = token_lifetime
        self.unregistered: set[str] = set()
        """Device tokens answered with 404 UNREGISTERED, as for an uninstalled app."""
        self.token_grants: list[dict[str, Any]] = []
        self.client_email = f"notifier@{project_id}.iam.gserviceaccount.com"
        self.private_key_id = secrets.token_hex(20)
        self._issued: dict[str, float] = {}

    @property
    def service_account(self) -> dict[str, str]:
        """The service-account JSON key to hand the provider; its token_uri is this fake."""
        pem = _key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": pem.decode(),
            "client_email": self.client_email,
            "client_id": "1234567890",
            "token_uri": self.token_uri,
        }

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def reset(self) -> None:
        super().reset()
        self.unregistered.clear()
        self.token_grants.clear()
        self.token_lifetime = self._initial_lifetime
        self.revoke_tokens()

    def revoke_tokens(self) -> None:
        """Make every access token issued so far answer 401, as after a key rotation."""
        self._issued.clear()

    def _routes(self) -> list[Route]:
        return [
            self._route("/token", "token", self._token),
            self._route("/v1/projects/{project}/messages:send", "send", self._send),
        ]

    def _error_body(self, route: str, status: int) -> bytes:
        if route == "token":
            error = "invalid_grant" if status < 500 else "internal_failure"
            return json.dumps({"error": error, "error_description": f"fake {status}"}).encode()
        return json.dumps(_fcm_error(status, f"fake failure {status}")).encode()

    async def _token(self, received: Received) -> Response:
        form = received.form()
        if form.get("grant_type") != GRANT_TYPE:
            return self._refuse(
                f"grant_type {form.get('grant_type')!r}",
                400,
                _oauth_error("unsupported_grant_type"),
            )
        try:
            header = jwt.get_unverified_header(form.get("assertion", ""))
            claims = jwt.decode(
                form.get("assertion", ""),
                _key().public_key(),
                algorithms=["RS256"],
                audience=self.token_uri,
                issuer=self.client_email,
                options={"require": ["iss", "aud", "exp", "iat", "scope"]},
            )
        except jwt.PyJWTError as exc:
            return self._refuse(f"assertion: {exc}", 400, _oauth_error("invalid_grant", str(exc)))
        if SCOPE not in str(claims["scope"]).split():
            return self._refuse(
                f"scope {claims['scope']!r}", 400, _oauth_error("invalid_scope", "Invalid scope")
            )
        if claims["exp"] - claims["iat"] > 3600:
            return self._refuse("assertion lives over an hour", 400, _oauth_error("invalid_grant"))
        if header.get("kid") not in (None, self.private_key_id):
            return self._refuse(f"kid {header.get('kid')!r}", 400, _oauth_error("invalid_grant"))
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self._issued[token] = time.time() + self.token_lifetime
        self.token_grants.append(claims)
        return json_response(
            {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        )

    async def _send(self, received: Received) -> Response:
        token = received.headers.get("authorization", "").removeprefix("Bearer ")
        if self._issued.get(token, 0.0) < time.time():
            return self._refuse(
                "bearer token not issued or expired",
                401,
                _fcm_error(401, "Request had invalid authentication credentials."),
            )
        project = received.path.split("/")[3]
        if project != self.project_id:
            return self._refuse(f"project {project}", 403, _fcm_error(403, "Permission denied."))
        try:
            body = received.json()
        except ValueError:
            return self._refuse("body is not JSON", 400, _fcm_error(400, "Invalid JSON payload."))
        problem = _check_message(body)
        if problem is not None:
            return self._refuse(problem, 400, _fcm_error(400, problem))
        message = body["message"]
        if message.get("token") in self.unregistered:
            return json_response(_fcm_error(404, "Requested entity was not found."), 404)
        name = (
            f"projects/{self.project_id}/messages/0:{time.time_ns() // 1000}%{secrets.token_hex(8)}"
        )
        self.accepted.append(Accepted(name, message, received))
        return json_response({"name": name})


def _check_message(body: Any) -> str | None:
    if not isinstance(body, dict) or set(body) - {"message", "validate_only"}:
        return "the request is {message[, validate_only]}"
    message = body.get("message")
    if not isinstance(message, dict):
        return "message must be an object"
    unknown = set(message) - _MESSAGE_FIELDS
    if unknown:
        return f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at 'message'"
    if sum(1 for target in ("token", "topic", "condition") if message.get(target)) != 1:
        return "exactly one of token, topic or condition"
    notification = message.get("notification", {})
    if not isinstance(notification, dict) or not all(
        k in ("title", "body", "image") and isinstance(v, str) for k, v in notification.items()
    ):
        return "notification is {title, body, image} strings"
    data = message.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return "data values must be strings"
    return None


def _fcm_error(status: int, message: str) -> dict[str, Any]:
    """google.rpc.Status with FCM's FcmError detail, as FCM v1 answers errors."""
    detail = {
        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode": _FCM_ERROR_CODE.get(status, "UNSPECIFIED_ERROR"),
    }
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _CANONICAL.get(status, "UNKNOWN"),
            "details": [detail],
        }
    }


def _oauth_error(error: str, description: str = "") -> dict[str, str]:
    return {"error": error, "error_description": description}
