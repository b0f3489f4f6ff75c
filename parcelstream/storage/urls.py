"""Back-end URLs: query options, and passwords masked before a URL is logged or shown."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit


def mask_password(url: str) -> str:
    """Hide the password, or a lone user part (a NATS token: `nats://TOKEN@host`)."""
    parts = urlsplit(url)
    if parts.password is not None:
        secret = f":{parts.password}@"
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(secret, ":***@")))
    if parts.username is not None and parts.scheme == "nats":
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f"{parts.username}@", "***@")))
    return url


def split_options(url: str, names: set[str]) -> tuple[str, dict[str, str]]:
    """Take our own options (`?pool=4`) out of a URL, leaving the rest for the driver."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    ours = {name: query.pop(name)[0] for name in names if name in query}
    rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
    return urlunsplit(parts._replace(query=rest)), ours
