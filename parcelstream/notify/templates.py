"""Turns a `Notice` into the words of an e-mail, an SMS or a push notification, from the Jinja2
files in `templates/`, any of which a user can replace by a file at the same path in their own
folder (`email/DELIVERED.subject.j2`, `sms/_links.txt.j2`...).

Every template sees the same variables, listed in `CONTEXT_VARIABLES`. All templates are compiled
and checked for unknown variables when the renderer is built, so a typo in an override stops the
notifier at start-up rather than at the first parcel it concerns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    Template,
    UndefinedError,
    meta,
    select_autoescape,
)

from parcelstream.notify.notice import Notice
from parcelstream.notify.sms import fit_sms, sms_segments

MILESTONES: tuple[str, ...] = (
    "PICKED_UP",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "ATTEMPTED_DELIVERY",
    "EXCEPTION",
    "ESTIMATE_CHANGED",
)
"""The milestones the package ships templates for; an override folder may add others."""

PARTS: Mapping[str, tuple[str, ...]] = {
    "email": ("subject", "txt", "html"),
    "sms": ("txt",),
    "push": ("title", "txt"),
}
"""Per channel, the files one milestone needs: `<channel>/<MILESTONE>.<part>.j2`."""

SMS_LINKS = "sms/_links.txt.j2"
"""The tracking link and stop line every SMS ends with; `fit_sms` never shortens them."""

CONTEXT_VARIABLES: tuple[str, ...] = (
    "notice",  # the Notice itself
    "greeting",  # "Hi Dana," or "Hello,"
    "parcel",  # "UPS parcel 1Z999AA10123456784", or "parcel ..." when the carrier is unknown
    "carrier",  # "UPS", "FedEx"... or None
    "place",  # "Memphis, TN, US", as much of it as is known, or None
    "detail",  # the status detail in words ("held at customs") or None
    "window",  # a WindowView or None
    "occurred",  # a Moment: when the milestone happened, in the scan's own time zone
)

STATUS_PHRASES: Mapping[str, str] = {
    "WEATHER_DELAY": "bad weather",
    "ADDRESS_ISSUE": "a problem with the address",
    "DAMAGED": "damaged in transit",
    "CUSTOMS_HOLD": "held at customs",
    "RETURNED_TO_SENDER": "returning to the sender",
    "NO_ACCESS": "no access to the address",
    "RECIPIENT_UNAVAILABLE": "nobody was available",
    "BUSINESS_CLOSED": "the business was closed",
    "REFUSED": "delivery was refused",
}
"""Status-detail codes in words that fit after "Reason: "; other codes are lower-cased."""

CARRIER_NAMES: Mapping[str, str] = {
    "ups": "UPS",
    "fedex": "FedEx",
    "usps": "USPS",
    "dhl": "DHL",
    "ontrac": "OnTrac",
    "canadapost": "Canada Post",
    "amazon": "Amazon",
    "s10": "",  # a postal service we cannot name
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PACKAGE_TEMPLATES = ("parcelstream.notify", "templates")
_WHITESPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class RenderedSms:
    text: str
    segments: int
    encoding: str
    """"GSM-7" or "UCS-2"."""


@dataclass(frozen=True, slots=True)
class RenderedPush:
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class WindowView:
    """The delivery window as templates print it."""

    day: str
    """"today" when the window falls on the day of the milestone, else "Fri 3 May"."""
    today: bool
    start: str
    """"09:00", in the window's own offset."""
    end: str


@dataclass(frozen=True, slots=True)
class Moment:
    day: str
    """"Fri 3 May"."""
    time: str
    """"14:05"."""


class TemplateRenderer:
    """Renders notices through the package's templates, or the user's where they have one."""

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[BaseLoader] = [PackageLoader(*_PACKAGE_TEMPLATES)]
        if override_dir is not None:
            if not override_dir.is_dir():
                raise NotADirectoryError(f"template override folder not found: {override_dir}")
            loaders.insert(0, FileSystemLoader(override_dir))
        self._loader = ChoiceLoader(loaders)
        self._env = Environment(
            loader=self._loader,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,
        )
        # For overrides that want more than the context offers: {{ notice.window.latest|clock }}.
        self._env.filters.update(
            status_phrase=status_phrase, carrier_name=_carrier_name, clock=_clock, day=_day
        )
        self._templates = self._load_all()

    def email(self, notice: Notice) -> RenderedEmail:
        context = _context(notice)
        return RenderedEmail(
            subject=_one_line(self._render("email", notice.milestone, "subject", context)),
            text=_paragraphs(self._render("email", notice.milestone, "txt", context)),
            html=self._render("email", notice.milestone, "html", context).strip() + "\n",
        )

    def sms(self, notice: Notice) -> RenderedSms:
        context = _context(notice)
        description = self._render("sms", notice.milestone, "txt", context)
        links = "\n".join(
            line.strip() for line in self._template(SMS_LINKS).render(context).splitlines()
        ).strip()
        text = fit_sms(description, links)
        segments, encoding = sms_segments(text)
        return RenderedSms(text=text, segments=segments, encoding=encoding)

    def push(self, notice: Notice) -> RenderedPush:
        context = _context(notice)
        return RenderedPush(
            title=_one_line(self._render("push", notice.milestone, "title", context)),
            body=_one_line(self._render("push", notice.milestone, "txt", context)),
        )

    def _render(self, channel: str, milestone: str, part: str, context: dict[str, Any]) -> str:
        return self._template(f"{channel}/{milestone}.{part}.j2").render(context)

    def _template(self, name: str) -> Template:
        template = self._templates.get(name)
        if template is None:  # a milestone only an override folder knows about
            template = self._templates[name] = self._env.get_template(name)
        return template

    def _load_all(self) -> dict[str, Template]:
        """Compiles every template, the overrides' and the package's, and refuses any that uses
        a variable no notice provides: the mistake StrictUndefined would otherwise only report
        when a notice takes that branch."""
        known = set(CONTEXT_VARIABLES) | set(self._env.globals)
        names = {name for name in self._env.list_templates() if name.endswith(".j2")}
        names.update(
            f"{channel}/{milestone}.{part}.j2"
            for channel, parts in PARTS.items()
            for milestone in MILESTONES
            for part in parts
        )
        names.add(SMS_LINKS)
        templates: dict[str, Template] = {}
        for name in sorted(names):
            source, filename, _ = self._loader.get_source(self._env, name)
            unknown = meta.find_undeclared_variables(self._env.parse(source, name)) - known
            if unknown:
                raise UndefinedError(
                    f"{filename or name} uses {', '.join(sorted(unknown))}, which no notice "
                    f"provides; templates can use {', '.join(CONTEXT_VARIABLES)}"
                )
            templates[name] = self._env.get_template(name)
        return templates


def _context(notice: Notice) -> dict[str, Any]:
    """The variables every template sees, worked out once per notice."""
    carrier = _carrier_name(notice.carrier) if notice.carrier else ""
    place = ", ".join(part for part in (notice.city, notice.region, notice.country) if part)
    window = None
    if notice.window is not None:
        # Both dates are local: the scan's in its own offset, the window's at the destination.
        today = notice.window.date == notice.occurred_at[:10]
        window = WindowView(
            day="today" if today else _day(notice.window.date),
            today=today,
            start=_clock(notice.window.earliest),
            end=_clock(notice.window.latest),
        )
    return {
        "notice": notice,
        "greeting": f"Hi {notice.recipient_name}," if notice.recipient_name else "Hello,",
        "parcel": f"{carrier} parcel {notice.tracking_number}".lstrip(),
        "carrier": carrier or None,
        "place": place or None,
        "detail": status_phrase(notice.status_detail) if notice.status_detail else None,
        "window": window,
        "occurred": Moment(day=_day(notice.occurred_at), time=_clock(notice.occurred_at)),
    }


def status_phrase(code: str) -> str:
    """WEATHER_DELAY -> "bad weather"; a code without a phrase -> "some new code"."""
    return STATUS_PHRASES.get(code) or code.replace("_", " ").strip().lower()


def _carrier_name(carrier: str) -> str:
    """Our carrier id as people write it: "fedex" -> "FedEx"; unknown ids as given."""
    return CARRIER_NAMES.get(carrier, carrier)


def _clock(instant: str) -> str:
    """RFC 3339 -> "14:05", on the clock of the instant's own offset."""
    moment = datetime.fromisoformat(instant)
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _day(value: str) -> str:
    """A date (2026-11-24) or an RFC 3339 instant -> "Tue 24 Nov"."""
    on = date.fromisoformat(value[:10])
    return f"{_DAYS[on.weekday()]} {on.day} {_MONTHS[on.month - 1]}"


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _paragraphs(text: str) -> str:
    lines = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return _BLANK_LINES.sub("\n\n", lines) + "\n"
