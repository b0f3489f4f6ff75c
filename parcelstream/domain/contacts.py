"""What counts as an e-mail address or a phone number we can send to (E.164)."""

from __future__ import annotations

import re

_EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

EMAIL_HINT = "not an e-mail address"
E164_HINT = "an E.164 phone number such as +14155550100"


def is_email(text: str) -> bool:
    return _EMAIL.match(text) is not None


def is_e164(text: str) -> bool:
    return _E164.match(text) is not None
