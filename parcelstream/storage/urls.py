"""Back-end URLs: query options, and passwords masked before a URL is logged or shown."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit


def mask_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def split_options(url: str, names: set[str]) -> tuple[str, dict[str, str]]:
    """Take our own options (`?pool=4`) out of a URL, leaving the rest for the driver."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    ours = {name: query.pop(name)[0] for name in names if name in query}
    rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
    return urlunsplit(parts._replace(query=rest)), ours
