"""Each fake provider server starts once per test session and is wiped before every test."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.providers.fakes import FakeFcm, FakeSendGrid, FakeTwilio, FakeWebhookReceiver


@pytest.fixture(scope="session")
def _sendgrid() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


@pytest.fixture(scope="session")
def _twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture(scope="session")
def _fcm() -> Iterator[FakeFcm]:
    with FakeFcm() as fake:
        yield fake


@pytest.fixture(scope="session")
def _receiver() -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver() as fake:
        yield fake


@pytest.fixture
def sendgrid(_sendgrid: FakeSendGrid) -> FakeSendGrid:
    _sendgrid.reset()
    return _sendgrid


@pytest.fixture
def twilio(_twilio: FakeTwilio) -> FakeTwilio:
    _twilio.reset()
    return _twilio


@pytest.fixture
def fcm(_fcm: FakeFcm) -> FakeFcm:
    _fcm.reset()
    return _fcm


@pytest.fixture
def receiver(_receiver: FakeWebhookReceiver) -> FakeWebhookReceiver:
    _receiver.reset()
    return _receiver


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
