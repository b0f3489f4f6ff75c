"""What a blob key may be: one rule for every adapter, so a key valid on S3 is valid on disk."""

from __future__ import annotations

import re

MAX_KEY_LENGTH = 1024
_PART = re.compile(r"[A-Za-z0-9_=+,@:~-][A-Za-z0-9._=+,@:~-]*")


def check_key(key: str) -> str:
    """The key, if it is `/`-separated parts of letters, digits and `._=+,@:~-`, none empty and
    none starting with a dot (so no `.`, `..` or hidden names); ValueError otherwise."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"blob key must be 1 to {MAX_KEY_LENGTH} characters")
    for part in key.split("/"):
        if not _PART.fullmatch(part):
            raise ValueError(f"blob key {key!r}: part {part!r} is not allowed")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key's beginning (it may end inside a part or with `/`)."""
    if prefix:
        check_key(prefix.rstrip("/") if prefix.endswith("/") else prefix)
    return prefix
