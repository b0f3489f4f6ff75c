"""Push verification per carrier, against the SPEC's published example signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from parcelstream.carriers.push_auth import (
    STALE,
    UNAUTHORIZED,
    UpsAccess,
    UspsRecipe,
    check_fedex,
    check_ups,
    check_ups_token,
    check_usps,
    issue_ups_token,
)
from parcelstream.domain.times import parse_instant

DATA = Path(__file__).parents[1] / "data" / "carriers"
FEDEX_TOKEN = "ParcelStreamExampleToken2026x"
FEDEX_SIGNATURE = "NJhGZrN7usWJT3ZdqyWKDr5wEnAmTM6ecMVBqNJraTM="
USPS_SECRET = "ExampleUspsSecret0123456789ABCDE"
USPS_SIGNATURE = "wAUqrm4cFtN0v3XoffD1pVhXU2cGWE39ExMFVfgK8jA="
USPS_SIGNED_AT = parse_instant("2026-11-22T23:17:41Z")[0]


def test_example_files_are_the_signed_bytes() -> None:
    digest = hashlib.sha256((DATA / "fedex_webhook.json").read_bytes()).hexdigest()
    assert digest == "40ec68cb66928d72263844dd81bcb056aceb34bc9d543c1c8eac0776487107d8"


def test_fedex_example_signature_verifies_with_either_configured_token() -> None:
    body = (DATA / "fedex_webhook.json").read_bytes()
    headers = {"fdx-signature": FEDEX_SIGNATURE}
    assert check_fedex(headers, body, [FEDEX_TOKEN]) is None
    assert check_fedex(headers, body, ["NewToken2027abcdefghijklmnopq", FEDEX_TOKEN]) is None


def test_fedex_refuses_a_changed_body_another_token_or_no_signature() -> None:
    body = (DATA / "fedex_webhook.json").read_bytes()
    headers = {"fdx-signature": FEDEX_SIGNATURE}
    tampered = body.replace(b"M.RIOS", b"X.RIOS")
    problem = check_fedex(headers, tampered, [FEDEX_TOKEN])
    assert problem is not None
    assert (problem.code, problem.field) == (UNAUTHORIZED, "fdx-signature")
    assert check_fedex(headers, body, ["SomeOtherToken2026abcdefgh"]) is not None
    assert check_fedex({}, body, [FEDEX_TOKEN]) is not None
    assert check_fedex({"fdx-signature": "not base64!"}, body, [FEDEX_TOKEN]) is not None


def test_usps_example_signature_over_timestamp_and_payload() -> None:
    body = (DATA / "usps_webhook.json").read_bytes()
    headers = {"x-hmac": USPS_SIGNATURE}
    assert (
        check_usps(headers, body, [USPS_SECRET], UspsRecipe(), USPS_SIGNED_AT + 5_000_000) is None
    )
    forged = check_usps(headers, body, ["B" * 32], UspsRecipe(), USPS_SIGNED_AT)
    assert forged is not None
    assert forged.code == UNAUTHORIZED


def test_usps_push_signed_long_ago_is_stale() -> None:
    body = (DATA / "usps_webhook.json").read_bytes()
    an_hour_later = USPS_SIGNED_AT + 3600 * 1_000_000
    problem = check_usps(
        {"x-hmac": USPS_SIGNATURE}, body, [USPS_SECRET], UspsRecipe(), an_hour_later
    )
    assert problem is not None
    assert (problem.code, problem.field) == (STALE, "timestamp")


def test_usps_recipe_is_a_setting_header_encoding_and_message() -> None:
    body = (DATA / "usps_webhook.json").read_bytes()
    signature = hmac.new(USPS_SECRET.encode(), body, hashlib.sha256).hexdigest()
    recipe = UspsRecipe(header="X-USPS-Hmac-Signature", encoding="hex", message="body")
    headers = {"x-usps-hmac-signature": signature}
    assert check_usps(headers, body, [USPS_SECRET], recipe, USPS_SIGNED_AT) is None
    assert check_usps({"x-hmac": USPS_SIGNATURE}, body, [USPS_SECRET], recipe, USPS_SIGNED_AT)


ACCESS = UpsAccess(
    client_id="ups-client", client_secrets=("new-secret", "old-secret"), credentials=()
)
NOW = 1_795_000_000_000_000
HOUR = 3600 * 1_000_000


def test_ups_tokens_we_issued_pass_until_they_expire() -> None:
    token = issue_ups_token("ups-client", "old-secret", NOW, HOUR)
    assert check_ups_token(token, ACCESS, NOW + HOUR - 1_000_000) is None
    assert "expired" in (check_ups_token(token, ACCESS, NOW + HOUR) or "")


def test_ups_tokens_signed_with_an_unknown_secret_or_altered_are_refused() -> None:
    assert check_ups_token(issue_ups_token("ups-client", "guess", NOW, HOUR), ACCESS, NOW)
    token = issue_ups_token("ups-client", "new-secret", NOW, HOUR)
    prefix, client, expires, nonce, mac = token.split(".")
    longer = ".".join((prefix, client, str(int(expires) + 86_400), nonce, mac))
    assert check_ups_token(longer, ACCESS, NOW)
    assert check_ups_token("psu1.a.b", ACCESS, NOW)


def test_ups_push_needs_our_token_and_the_client_id_as_api_key() -> None:
    token = issue_ups_token("ups-client", "new-secret", NOW, HOUR)
    good = {"authorization": f"Bearer {token}", "x-api-key": "ups-client"}
    assert check_ups(good, ACCESS, NOW) is None
    wrong_key = check_ups({**good, "x-api-key": "someone"}, ACCESS, NOW)
    assert wrong_key is not None
    assert wrong_key.field == "x-api-key"
    assert check_ups({"x-api-key": "ups-client"}, ACCESS, NOW) is not None


def test_ups_v1_credential_from_authorization_or_a_named_header() -> None:
    v1 = UpsAccess(client_id=None, client_secrets=(), credentials=("cred-2", "cred-1"))
    assert check_ups({"authorization": "Bearer cred-1"}, v1, NOW) is None
    assert check_ups({"authorization": "Bearer cred-3"}, v1, NOW) is not None
    in_header = UpsAccess(None, (), ("cred-1",), credential_header="credential")
    assert check_ups({"credential": "cred-1"}, in_header, NOW) is None
    assert check_ups({"authorization": "Bearer cred-1"}, in_header, NOW) is not None


def test_signatures_in_the_spec_are_base64_of_32_bytes() -> None:
    assert len(base64.b64decode(FEDEX_SIGNATURE)) == 32
    assert len(base64.b64decode(USPS_SIGNATURE)) == 32
