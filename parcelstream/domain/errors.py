"""Why an input was refused: a stable code, the field it concerns and a sentence for people."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rejection:
    field: str | None
    reason: str
    code: str = "invalid"


class RejectedInput(Exception):
    """A whole request was refused; `api/errors.py` maps its code to an HTTP status."""

    def __init__(self, first: Rejection, *more: Rejection) -> None:
        super().__init__(first.reason)
        self.rejections = (first, *more)
