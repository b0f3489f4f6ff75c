"""Notification templates: every milestone renders on every channel, overrides replace one file at
a time and fail loudly when wrong, HTML is escaped, and an SMS stays within one GSM-7 segment."""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

import pytest
from jinja2 import TemplateSyntaxError, UndefinedError

from parcelstream.domain.estimate import ESTIMATE_CHANGED
from parcelstream.domain.status import MILESTONES as DOMAIN_MILESTONES
from parcelstream.notify.notice import DeliveryWindow, Notice
from parcelstream.notify.sms import fit_sms, is_gsm7, sms_segments, to_gsm7
from parcelstream.notify.templates import MILESTONES, TemplateRenderer, status_phrase

TRACKING_URL = "https://track.example.com/t/1Z999AA10123456784?k=Qm9sdA"
UNSUBSCRIBE_URL = "https://track.example.com/u/6f1c2e9a?sig=a1b2c3d4&exp=1795"
EN_DASH = "\u2013"
DETAILS = {"EXCEPTION": "WEATHER_DELAY", "ATTEMPTED_DELIVERY": "RECIPIENT_UNAVAILABLE"}

FULL = Notice(
    event_id="evt-1",
    tracking_number="1Z999AA10123456784",
    carrier="ups",
    milestone="OUT_FOR_DELIVERY",
    milestone_number=1,
    status_detail=None,
    occurred_at="2026-11-24T07:42:00-05:00",
    city="Springfield",
    region="IL",
    country="US",
    tracking_url=TRACKING_URL,
    unsubscribe_url=UNSUBSCRIBE_URL,
    recipient_name="Dana",
    window=DeliveryWindow(
        date="2026-11-24", earliest="2026-11-24T09:00:00-05:00", latest="2026-11-24T13:00:00-05:00"
    ),
)
MINIMAL = Notice(
    event_id="evt-2",
    tracking_number="9400111899223197428490",
    carrier=None,
    milestone="OUT_FOR_DELIVERY",
    milestone_number=1,
    status_detail=None,
    occurred_at="2026-11-24T07:42:00Z",
    city=None,
    region=None,
    country=None,
    tracking_url=TRACKING_URL,
    unsubscribe_url=UNSUBSCRIBE_URL,
)
# The budget the SMS templates are designed for: long number, long city, ~60-character links.
TYPICAL = dataclasses.replace(
    FULL,
    tracking_number="JJD0099999999999999999999999999999",
    city="Llanfairpwllgwyngyll-on-the-Menai-Strait",
    tracking_url="https://parcels.example-carrier.com/t/JJD0099999999999999999",
    unsubscribe_url="https://parcels.example-carrier.com/u/8f2b1c9d7e6a5b4c3d2e1f",
    recipient_name="Dana Scully",
)


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


def _notice(base: Notice, milestone: str) -> Notice:
    detail = DETAILS.get(milestone) if base.city else None
    return dataclasses.replace(base, milestone=milestone, status_detail=detail)


def _outputs(renderer: TemplateRenderer, notice: Notice) -> dict[str, str]:
    email, sms, push = renderer.email(notice), renderer.sms(notice), renderer.push(notice)
    return {
        "email subject": email.subject,
        "email text": email.text,
        "email html": email.html,
        "sms": sms.text,
        "push title": push.title,
        "push body": push.body,
    }


def test_the_package_ships_templates_for_every_domain_milestone() -> None:
    expected = {str(milestone) for milestone in DOMAIN_MILESTONES} | {ESTIMATE_CHANGED}
    assert set(MILESTONES) == expected


@pytest.mark.parametrize("milestone", MILESTONES)
@pytest.mark.parametrize("base", [FULL, MINIMAL], ids=["full", "minimal"])
def test_every_milestone_renders_on_every_channel(
    renderer: TemplateRenderer, milestone: str, base: Notice
) -> None:
    outputs = _outputs(renderer, _notice(base, milestone))

    for part, text in outputs.items():
        assert text.strip(), part
        assert "None" not in text, part
    assert "\n" not in outputs["email subject"]
    assert "\n" not in outputs["push title"]
    assert "\n" not in outputs["push body"]
    assert base.tracking_number in outputs["email subject"]
    assert base.tracking_url in outputs["email text"]
    assert base.tracking_url in html.unescape(outputs["email html"])
    assert base.tracking_url in outputs["sms"]


@pytest.mark.parametrize("milestone", MILESTONES)
def test_a_full_notice_shows_name_place_window_and_detail(
    renderer: TemplateRenderer, milestone: str
) -> None:
    notice = _notice(FULL, milestone)
    email = renderer.email(notice)

    assert email.text.startswith("Hi Dana,\n")
    assert "Hi Dana," in email.html
    assert "Springfield, IL, US" in email.text
    assert "Springfield" in email.html
    if milestone != "DELIVERED":
        assert f"09:00{EN_DASH}13:00" in email.text or "between 09:00 and 13:00" in email.text
        assert "09:00&ndash;13:00" in email.html
    if milestone in DETAILS:
        phrase = status_phrase(DETAILS[milestone])
        assert phrase in email.text
        assert phrase in email.html
        assert phrase in renderer.push(notice).body


@pytest.mark.parametrize("milestone", MILESTONES)
def test_a_minimal_notice_greets_without_a_name_and_mentions_no_place(
    renderer: TemplateRenderer, milestone: str
) -> None:
    email = renderer.email(_notice(MINIMAL, milestone))

    assert email.text.startswith("Hello,\n")
    assert "Hello," in email.html
    assert " in ," not in email.text
    assert "Expected delivery" not in email.html


@pytest.mark.parametrize("milestone", MILESTONES)
def test_the_unsubscribe_link_is_in_every_email_and_sms(
    renderer: TemplateRenderer, milestone: str
) -> None:
    for base in (FULL, MINIMAL, TYPICAL):
        notice = _notice(base, milestone)
        email = renderer.email(notice)
        assert notice.unsubscribe_url in email.text
        assert html.escape(notice.unsubscribe_url or "") in email.html
        assert f"Stop: {notice.unsubscribe_url}" in renderer.sms(notice).text


def test_without_an_unsubscribe_link_no_stop_line_is_sent(renderer: TemplateRenderer) -> None:
    notice = dataclasses.replace(FULL, unsubscribe_url=None)

    assert "Stop" not in renderer.sms(notice).text
    assert "Unsubscribe" not in renderer.email(notice).html


@pytest.mark.parametrize("milestone", MILESTONES)
def test_html_escapes_what_the_notice_carries(renderer: TemplateRenderer, milestone: str) -> None:
    notice = dataclasses.replace(
        _notice(FULL, milestone), city="<script>alert(1)</script>", recipient_name="Bo & <b>Al</b>"
    )
    email = renderer.email(notice)

    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "<b>Al</b>" not in email.html
    assert "Hi Bo &amp; &lt;b&gt;Al&lt;/b&gt;," in email.html
    assert "Hi Bo & <b>Al</b>," in email.text  # plain text is not HTML: nothing to escape


@pytest.mark.parametrize("milestone", MILESTONES)
def test_a_typical_sms_is_one_gsm7_segment_with_both_links(
    renderer: TemplateRenderer, milestone: str
) -> None:
    notice = _notice(TYPICAL, milestone)
    sms = renderer.sms(notice)

    assert sms_segments(sms.text) == (1, "GSM-7")
    assert (sms.segments, sms.encoding) == (1, "GSM-7")
    assert sms.text.endswith(f"\n{notice.tracking_url}\nStop: {notice.unsubscribe_url}")


@pytest.mark.parametrize("number", [1, 2])
def test_out_for_delivery_sms_keeps_the_window_within_the_typical_budget(
    renderer: TemplateRenderer, number: int
) -> None:
    sms = renderer.sms(dataclasses.replace(TYPICAL, milestone_number=number))

    assert sms.text.splitlines()[0] == "Out for delivery, 09:00-13:00."


def test_a_second_out_for_delivery_says_again(renderer: TemplateRenderer) -> None:
    notice = dataclasses.replace(FULL, milestone_number=2)

    assert renderer.email(notice).subject.endswith("is out for delivery again")
    assert renderer.push(notice).title == "Out for delivery again"


def test_a_window_on_a_later_day_names_the_day(renderer: TemplateRenderer) -> None:
    window = DeliveryWindow("2026-11-25", "2026-11-25T09:00:00-05:00", "2026-11-25T13:00:00-05:00")
    notice = dataclasses.replace(
        FULL, milestone="PICKED_UP", window=window, tracking_url="https://t.example/1"
    )

    assert f"Expected delivery: Wed 25 Nov, 09:00{EN_DASH}13:00." in renderer.email(notice).text
    assert "Wed 25 Nov, 09:00-13:00" in renderer.sms(notice).text


def test_status_codes_read_as_words() -> None:
    assert status_phrase("CUSTOMS_HOLD") == "held at customs"
    assert status_phrase("RECIPIENT_UNAVAILABLE") == "nobody was available"
    assert status_phrase("SOME_NEW_CODE") == "some new code"


# Overrides


def _override(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


def test_an_override_replaces_exactly_that_one_template(
    renderer: TemplateRenderer, tmp_path: Path
) -> None:
    _override(tmp_path, "sms/DELIVERED.txt.j2", "Here, {{ carrier }}!")
    custom = TemplateRenderer(tmp_path)
    delivered = dataclasses.replace(FULL, milestone="DELIVERED")

    assert custom.sms(delivered).text.startswith("Here, UPS!\n")
    assert custom.email(delivered) == renderer.email(delivered)
    assert custom.push(delivered) == renderer.push(delivered)
    for milestone in MILESTONES:
        if milestone != "DELIVERED":
            notice = _notice(FULL, milestone)
            assert custom.sms(notice) == renderer.sms(notice)


def test_an_overridden_partial_changes_every_email(tmp_path: Path) -> None:
    _override(tmp_path, "email/_footer.txt.j2", "Opt out: {{ notice.unsubscribe_url }}\n")
    custom = TemplateRenderer(tmp_path)

    for milestone in MILESTONES:
        assert custom.email(_notice(FULL, milestone)).text.endswith(f"Opt out: {UNSUBSCRIBE_URL}\n")


def test_an_override_using_an_unknown_variable_fails_when_the_renderer_is_built(
    tmp_path: Path,
) -> None:
    _override(tmp_path, "push/DELIVERED.txt.j2", "{% if eta %}Arrived {{ eta }}{% endif %}")

    with pytest.raises(UndefinedError, match="eta"):
        TemplateRenderer(tmp_path)


def test_an_override_misspelling_a_notice_field_fails_when_rendered(tmp_path: Path) -> None:
    _override(tmp_path, "email/DELIVERED.subject.j2", "Delivered in {{ notice.cty }}")
    custom = TemplateRenderer(tmp_path)

    with pytest.raises(UndefinedError, match="cty"):
        custom.email(dataclasses.replace(FULL, milestone="DELIVERED"))


def test_an_override_with_a_syntax_error_fails_when_the_renderer_is_built(tmp_path: Path) -> None:
    _override(tmp_path, "sms/PICKED_UP.txt.j2", "Picked up {% if place %}in {{ place }}")

    with pytest.raises(TemplateSyntaxError):
        TemplateRenderer(tmp_path)


def test_a_missing_override_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        TemplateRenderer(tmp_path / "no-such-folder")


# SMS arithmetic


def test_gsm7_knows_its_alphabet() -> None:
    assert is_gsm7("Hello @ £5, ¿qué? Üñicode ΔΣ")
    assert not is_gsm7("Zoë")
    assert is_gsm7("{[€]}~^|\\")
    assert not is_gsm7("`")
    assert not is_gsm7("\u2019")
    assert not is_gsm7("📦")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (1, "GSM-7")),
        ("a" * 160, (1, "GSM-7")),
        ("a" * 161, (2, "GSM-7")),
        ("a" * 306, (2, "GSM-7")),
        ("a" * 307, (3, "GSM-7")),
        ("€" + "a" * 158, (1, "GSM-7")),
        ("€" + "a" * 159, (2, "GSM-7")),
        ("€" * 80, (1, "GSM-7")),
        # An escape and its character never straddle two segments.
        ("a" * 152 + "€" + "a" * 152, (3, "GSM-7")),
        ("📦", (1, "UCS-2")),
        ("a" * 159 + "📦", (3, "UCS-2")),
        ("ł" * 70, (1, "UCS-2")),
        ("ł" * 71, (2, "UCS-2")),
        ("📦" * 35, (1, "UCS-2")),
        ("📦" * 36, (2, "UCS-2")),
    ],
)
def test_sms_segments(text: str, expected: tuple[int, str]) -> None:
    assert sms_segments(text) == expected


def test_typography_becomes_gsm7() -> None:
    assert to_gsm7("It\u2019s \u201chere\u201d \u2013 9\u00a0am\u2026") == 'It\'s "here" - 9 am...'
    assert to_gsm7("Kraków, Zoë, Ça") == "Krakow, Zoe, Ça"
    assert to_gsm7("📦 Łódź") == "📦 Łodz"


def test_fit_sms_keeps_a_short_message_whole() -> None:
    assert fit_sms(f"Out for delivery, 09:00{EN_DASH}13:00.", "https://t.example/1") == (
        "Out for delivery, 09:00-13:00.\nhttps://t.example/1"
    )


def test_fit_sms_drops_whole_sentences_before_cutting_words() -> None:
    links = "https://t.example/" + "x" * 30 + "\nStop: https://t.example/u/" + "y" * 30
    text = "Parcel picked up in Springfield. Expected Wed 25 Nov, 09:00-13:00."

    fitted = fit_sms(text, links)

    assert fitted == f"Parcel picked up in Springfield.\n{links}"


def test_fit_sms_cuts_words_with_an_ellipsis_and_never_touches_the_links() -> None:
    links = "https://t.example/" + "x" * 30 + "\nStop: https://t.example/u/" + "y" * 30
    text = "Delivery attempted at 07:42, nobody was available to receive the parcel today"

    fitted = fit_sms(text, links)

    assert sms_segments(fitted) == (1, "GSM-7")
    assert fitted.endswith(f"...\n{links}")
    assert fitted.startswith("Delivery attempted at 07:42")


def test_fit_sms_drops_an_emoji_rather_than_go_ucs2() -> None:
    links = "https://t.example/" + "x" * 100
    fitted = fit_sms("Delivered at 14:05. Enjoy 📦 your parcel and have a lovely day", links)

    assert fitted == f"Delivered at 14:05.\n{links}"
    assert sms_segments(fitted) == (1, "GSM-7")


def test_fit_sms_sends_the_links_alone_when_nothing_else_fits() -> None:
    links = "https://t.example/" + "x" * 140

    assert fit_sms("Out for delivery.", links) == links


def test_fit_sms_keeps_links_too_long_for_one_segment_and_adds_no_segment() -> None:
    links = "https://t.example/" + "x" * 200
    fitted = fit_sms("Out for delivery. " + "More words here. " * 20, links)

    assert fitted.endswith(links)
    assert sms_segments(fitted)[0] == sms_segments(links)[0] == 2


def test_fit_sms_does_not_take_an_abbreviation_for_the_end_of_a_sentence() -> None:
    links = "https://t.example/" + "x" * 120
    fitted = fit_sms("Picked up in St. Louis today at the depot.", links)

    assert not fitted.startswith("Picked up in St.\n")
    assert sms_segments(fitted) == (1, "GSM-7")
