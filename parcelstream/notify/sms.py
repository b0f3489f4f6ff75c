"""SMS length rules: the GSM-7 alphabet, segment counting, and fitting a notification into one
segment without ever cutting its links. Pure: text in, text out."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# GSM 03.38 default alphabet (the 127 characters besides the escape) and its extension table,
# whose characters are sent as escape + character and so take two septets.
_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = frozenset("\f^{}\\[~]|€")

# (single segment, per segment once concatenated): the user-data header of a concatenated message
# takes 7 septets (GSM-7) or 3 UTF-16 units (UCS-2).
_GSM7_LIMITS = (160, 153)
_UCS2_LIMITS = (70, 67)

# Typography that phones and templates produce but GSM-7 lacks; one of them turns a whole message
# into UCS-2 and cuts its room from 160 characters to 70.
_LOOKALIKES: Mapping[str, str] = {
    "\u2018": "'",  # left single quotation mark
    "\u2019": "'",  # right single quotation mark, the apostrophe of most keyboards
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",  # prime
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2033": '"',
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus sign
    "\u2026": "...",
    "\u00a0": " ",  # no-break space
    "\u2007": " ",  # figure space
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space, as in French "10 h"
    "\u200b": "",  # zero-width space
    "\u2022": "-",  # bullet
    "\t": " ",
}

_SPACES = re.compile(r"[ \t]+")
_ELLIPSIS = "..."


def is_gsm7(text: str) -> bool:
    """Whether every character is in the GSM 03.38 default alphabet or its extension table."""
    return all(char in _BASIC or char in _EXTENSION for char in text)


def sms_segments(text: str) -> tuple[int, str]:
    """How many SMS segments `text` takes, and the encoding it needs ("GSM-7" or "UCS-2").

    GSM-7: 160 septets in one segment, 153 per segment beyond; extension characters take two
    septets and are never split across segments. UCS-2: 70 UTF-16 units, 67 per segment beyond;
    a character outside the BMP (most emoji) takes two and is never split. An empty message is
    still one segment.
    """
    if is_gsm7(text):
        return _count(_GSM7_LIMITS, (2 if char in _EXTENSION else 1 for char in text)), GSM7
    return _count(_UCS2_LIMITS, (2 if ord(char) > 0xFFFF else 1 for char in text)), UCS2


def _count(limits: tuple[int, int], sizes: Iterable[int]) -> int:
    single, per_part = limits
    units = list(sizes)
    if sum(units) <= single:
        return 1
    parts, used = 1, 0
    for size in units:
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts


def to_gsm7(text: str) -> str:
    """Replaces typographic characters with their GSM-7 look-alikes and strips accents that GSM-7
    lacks ("ë" -> "e", "ç" -> "c"); anything without a stand-in (emoji, non-Latin scripts) stays."""
    return "".join(_gsm7_char(char) for char in text)


def _gsm7_char(char: str) -> str:
    if char in _BASIC or char in _EXTENSION:
        return char
    if char in _LOOKALIKES:
        return _LOOKALIKES[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and is_gsm7(base) else char


def fit_sms(text: str, url_line: str) -> str:
    """`text` (the description, collapsed to one line), a newline, then `url_line` (the tracking
    link and the stop line), in as few segments as `url_line` allows: one, for any ordinary link.

    Only the description gives way: first whole trailing sentences are dropped, then words,
    marked with "...". `url_line` is never changed; if not even a word of the description fits
    beside it, the message is the links alone.
    """
    description = _SPACES.sub(" ", to_gsm7(text).replace("\n", " ")).strip()
    links = url_line.strip("\n")
    whole = _join(description, links)
    budget = sms_segments(links)[0]
    if not description or sms_segments(whole)[0] <= budget:
        return whole
    # No character takes less than one unit, so a longer description can never fit.
    description = description[: _GSM7_LIMITS[0] * budget + 1]
    for shorter in _shortenings(description):
        candidate = _join(shorter, links)
        if sms_segments(candidate)[0] <= budget:
            return candidate
    return links


def _join(description: str, links: str) -> str:
    return f"{description}\n{links}" if description and links else description or links


def _shortenings(description: str) -> Iterable[str]:
    """Ever shorter versions of `description`, best first: whole sentences, then words, then
    characters (for a single word too long for anything else)."""
    for end in range(len(description) - 1, 0, -1):
        if description[end] == " " and _ends_sentence(description[:end]):
            yield description[:end]
    for end in range(len(description) - 1, 0, -1):
        if description[end] == " ":
            kept = description[:end].rstrip(" ,;:-.")
            if kept:
                yield kept + _ELLIPSIS
    for end in range(len(description) - 1, 0, -1):
        yield description[:end] + _ELLIPSIS


def _ends_sentence(text: str) -> bool:
    if text[-1:] not in (".", "!", "?"):
        return False
    # "St. Louis", "Mt. Vernon": a short capitalised word before a full stop is an abbreviation.
    word = text[:-1].rsplit(" ", 1)[-1]
    return not (text[-1] == "." and word.isalpha() and word[:1].isupper() and len(word) <= 3)
