"""Carrier API settings: base URL, credentials and budget in one URL, refused clearly when unusable."""

from __future__ import annotations

import pytest

from parcelstream.carriers.access import DEFAULT_LIMITS, carrier_access, parse_access
from parcelstream.settings import Settings


def test_credentials_and_budget_come_from_the_url() -> None:
    access = parse_access(
        "ups",
        "https://my%40id:s3cr%2Ft@wwwcie.ups.com/?rate=2.5&daily=0&concurrency=3&subscribe=true",
    )
    assert access.base_url == "https://wwwcie.ups.com"
    assert (access.credentials.client_id, access.credentials.client_secret) == ("my@id", "s3cr/t")
    assert (access.limits.rate, access.limits.daily, access.limits.concurrency) == (2.5, None, 3)
    assert access.limits.burst == DEFAULT_LIMITS["ups"].burst
    assert access.subscribe


def test_usps_defaults_to_its_tiny_hourly_quota() -> None:
    access = parse_access("usps", "https://id:secret@apis.usps.com")
    assert access.limits.rate == pytest.approx(1 / 60)
    assert access.limits.concurrency == 1


def test_only_configured_carriers_are_polled() -> None:
    found = carrier_access(Settings(fedex_api_url="https://id:secret@apis.fedex.com"))
    assert list(found) == ["fedex"]
    assert carrier_access(Settings()) == {}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://apis.fedex.com", "client id and secret"),
        ("ftp://id:secret@apis.fedex.com", "expected https://"),
        ("https://id:secret@apis.fedex.com?rate=fast", "could not convert"),
        ("https://id:secret@apis.fedex.com?concurrency=0", "at least 1"),
    ],
)
def test_an_unusable_url_is_refused_naming_the_setting(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match="PARCELSTREAM_FEDEX_API_URL") as refused:
        parse_access("fedex", url)
    assert reason in str(refused.value)
    assert "secret@" not in str(refused.value)
