"""Assertions and settings the provider tests share."""

from __future__ import annotations

from parcelstream.notify.providers.base import ProviderError
from parcelstream.notify.providers.transport import Timeout

SHORT = Timeout(0.3, connect=2.0)
"""A read timeout the injected delays (1 s) outlast, so a timeout test takes a fraction of one."""


def assert_no_secret(error: ProviderError, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(error)
        assert secret not in repr(error)
