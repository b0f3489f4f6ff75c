"""The embedded defaults (e-mail through an SMTP relay, SMS and push to the outbox file), the
SendGrid event webhook, and a slow provider that must not slow scan processing."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from parcelstream.api.app import create_app
from parcelstream.settings import Settings
from tests.integration.conftest import make_keys
from tests.integration.test_notification_flow import TN, Shipper, sent
from tests.providers.fakes import FakeSendGrid, FakeSmtp


@contextlib.contextmanager
def start(settings: Settings) -> Iterator[Shipper]:
    keys = make_keys(settings)
    with TestClient(create_app(settings, with_processor=True)) as client:
        yield Shipper(client, keys)


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


def test_embedded_defaults_mail_through_smtp_and_write_the_rest_to_the_outbox(
    tmp_path: Path, smtp: FakeSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "data", smtp_url=smtp.url)
    caplog.set_level(logging.INFO)
    with start(settings) as shipper:
        said = " | ".join(
            r.getMessage() for r in caplog.records if "notifications:" in r.getMessage()
        )
        assert "e-mail through SMTP" in said
        assert "sms to the outbox file" in said
        assert "push to the outbox file" in said
        shipper.post(
            "/v1/packages",
            {
                "tracking_number": TN,
                "recipient": {"email": "dana@example.com", "phone": "+14045550199"},
            },
            "packages:write",
        )
        shipper.scans((5, "OUT_FOR_DELIVERY"))
        shipper.wait(lambda d: sent(d, 2))

    [mail] = smtp.mails
    assert mail.rcpt_tos == ["dana@example.com"]
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    lines = (tmp_path / "data" / "notifications-outbox.jsonl").read_text().splitlines()
    [sms] = [json.loads(line) for line in lines]
    assert sms["channel"] == "sms"
    assert sms["to"] == "+14045550199"
    assert TN in sms["text"]


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def test_sendgrid_event_webhook_is_verified_and_updates_receipts(
    tmp_path: Path, sendgrid: FakeSendGrid
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        sendgrid_api_key=sendgrid.api_key,
        sendgrid_base_url=sendgrid.url,
        sendgrid_webhook_public_key=base64.b64encode(public).decode(),
    )
    with start(settings) as shipper:
        shipper.client.post(
            "/v1/notifications/subscribe",
            json={"tracking_number": TN, "channel": "email", "address": "dana@example.com"},
        )
        shipper.scans((5, "DELIVERED"))
        [delivery] = shipper.wait(lambda d: sent(d, 1))
        message_id = delivery["provider_message_id"]
        body = json.dumps(
            [{"event": "delivered", "sg_message_id": f"{message_id}.filterdrecv-1", "email": "x"}]
        ).encode()
        stamp = str(int(time.time()))
        signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256())))
        headers: dict[str, Any] = {
            "X-Twilio-Email-Event-Webhook-Signature": signature.decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }
        path = "/v1/notifications/callbacks/sendgrid"
        forged = shipper.client.post(path, content=body + b" ", headers=headers)
        assert forged.status_code == 401
        accepted = shipper.client.post(path, content=body, headers=headers)
        assert accepted.json() == {"matched": 1}
        assert shipper.deliveries()[0]["receipt"] == "delivered"


def test_a_slow_provider_never_slows_scan_processing(
    tmp_path: Path, sendgrid: FakeSendGrid
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        sendgrid_api_key=sendgrid.api_key,
        sendgrid_base_url=sendgrid.url,
    )
    sendgrid.delay_next(4.0, count=5)
    with start(settings) as shipper:
        shipper.client.post(
            "/v1/notifications/subscribe",
            json={
                "tracking_number": TN,
                "channel": "email",
                "address": f"{uuid.uuid4().hex}@example.com",
            },
        )
        shipper.scans((30, "OUT_FOR_DELIVERY"))
        time.sleep(0.5)  # the e-mail is now stuck in the slow provider call
        began = time.monotonic()
        shipper.scans((1, "DELIVERED"))
        while shipper.client.get(f"/v1/track/{TN}").json()["status"] != "DELIVERED":
            assert time.monotonic() - began < 2.0, "scan processing waited for the provider"
            time.sleep(0.02)
