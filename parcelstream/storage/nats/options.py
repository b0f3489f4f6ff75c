"""The NATS event log's URL: its form, its query options and their checks, and the error the
adapter raises."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

_OPTIONS: dict[str, Callable[[str], Any]] = {
    "stream": str,
    "replicas": int,
    "duplicate_window": float,
    "max_age_hours": float,
    "ack_wait": float,
}
_FORBIDDEN_IN_NAMES = frozenset(".*>/\\ \t\r\n")


class NatsLogError(Exception):
    """The broker refused a request or did not answer it in time."""


@dataclass(frozen=True, slots=True)
class NatsLogOptions:
    servers: list[str]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    stream: str = "PARCELSTREAM"
    replicas: int = 1
    duplicate_window: float = 600.0
    max_age_hours: float = 168.0
    ack_wait: float = 30.0

    @property
    def subject(self) -> str:
        return f"{self.stream}.events"

    @property
    def dead_stream(self) -> str:
        return f"{self.stream}_DEAD"


def describe(url: str) -> str:
    """The URL without its credentials (password or token), fit for logs and errors."""
    parts = urlsplit(url)
    _, at, hosts = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"***@{hosts}" if at else hosts))


def parse_url(url: str) -> NatsLogOptions:
    parts = urlsplit(url)
    where = describe(url)
    if parts.scheme != "nats":
        raise ValueError(f"{where}: a NATS event log URL starts with nats://")
    hosts = [h.strip() for h in parts.netloc.rpartition("@")[2].split(",") if h.strip()]
    if not hosts:
        raise ValueError(f"{where}: name at least one server (nats://host:4222)")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    options = NatsLogOptions(
        servers=[f"nats://{host}" for host in hosts],
        user=user if password is not None else None,
        password=password,
        token=user if password is None else None,
        **_query_options(parts.query, where),
    )
    _check(options, where)
    return options


def _query_options(query: str, where: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, values in parse_qs(query, keep_blank_values=True).items():
        if name not in _OPTIONS:
            guess = difflib.get_close_matches(name, list(_OPTIONS), n=1)
            hint = f" Did you mean {guess[0]}?" if guess else ""
            raise ValueError(f"{where}: unknown option {name!r}.{hint}")
        try:
            options[name] = _OPTIONS[name](values[-1])
        except ValueError:
            raise ValueError(f"{where}: {name}={values[-1]!r} is not a valid value") from None
    return options


def _check(options: NatsLogOptions, where: str) -> None:
    if not options.stream or _FORBIDDEN_IN_NAMES & set(options.stream):
        raise ValueError(f"{where}: stream names cannot be empty or hold . * > / \\ or spaces")
    if options.replicas not in range(1, 6):
        raise ValueError(f"{where}: replicas must be 1 to 5")
    if not 0 < options.duplicate_window <= options.max_age_hours * 3600:
        raise ValueError(f"{where}: duplicate_window must be positive and within max_age_hours")
    if options.ack_wait <= 0:
        raise ValueError(f"{where}: ack_wait must be positive")
