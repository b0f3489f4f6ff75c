"""SmtpProvider against a local aiosmtpd relay: plain, STARTTLS with AUTH, and implicit TLS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from parcelstream.notify.providers.base import Message, ProviderError, Sent
from parcelstream.notify.providers.smtp import SmtpProvider, SmtpTarget, parse_smtp_url
from tests.providers.checks import assert_no_secret
from tests.providers.fakes import FakeSmtp

SENDER = "Parcelstream <notify@parcelstream.test>"
EMAIL = Message(
    channel="email",
    to="ada@example.com",
    event_id="evt-1z999-dlv-1-sub-11",
    subject="Delivered: 1Z999AA10123456784",
    text="Your parcel was delivered at 10:42.",
    html="<p>Your parcel was delivered at <b>10:42</b>.</p>",
    unsubscribe_url="https://track.example/unsubscribe/abc",
)
CREDENTIALS = ("notifier", "p@ss:w/rd-0123")


@pytest.fixture(scope="module")
def _relay() -> Iterator[FakeSmtp]:
    with FakeSmtp() as relay:
        yield relay


@pytest.fixture
def relay(_relay: FakeSmtp) -> FakeSmtp:
    _relay.mails.clear()
    _relay.auth_attempts.clear()
    return _relay


def provider_for(relay: FakeSmtp, timeout: float = 2.0) -> SmtpProvider:
    return SmtpProvider(
        relay.url,
        SENDER,
        timeout=timeout,
        tls_context=relay.client_tls_context(),
        local_hostname="notifier.test",
    )


async def send_failing(provider: SmtpProvider, message: Message = EMAIL) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.send(message)
    return caught.value


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): str(part.get_content()) for part in message.iter_parts()}


async def test_send_delivers_a_multipart_alternative_mail_with_one_click_unsubscribe(
    relay: FakeSmtp,
) -> None:
    sent = await provider_for(relay).send(EMAIL)

    [mail] = relay.mails
    assert (mail.mail_from, mail.rcpt_tos) == ("notify@parcelstream.test", ["ada@example.com"])
    message = mail.message
    assert sent == Sent("smtp", message["Message-ID"])
    assert message["Message-ID"] == "<evt-1z999-dlv-1-sub-11@parcelstream.test>"
    assert message["From"] == SENDER
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Delivered: 1Z999AA10123456784"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["List-Unsubscribe"] == "<https://track.example/unsubscribe/abc>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    assert parts(message) == {
        "text/plain": "Your parcel was delivered at 10:42.\n",
        "text/html": "<p>Your parcel was delivered at <b>10:42</b>.</p>\n",
    }


async def test_plain_text_mail_is_a_single_part_and_unicode_survives(relay: FakeSmtp) -> None:
    message = replace(EMAIL, html=None, unsubscribe_url=None, subject="Zugestellt ✓", text="Grüße")

    await provider_for(relay).send(message)

    [mail] = relay.mails
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message["Subject"] == "Zugestellt ✓"
    assert mail.message.get_content() == "Grüße\n"
    assert "List-Unsubscribe" not in mail.message


async def test_an_event_id_unfit_for_a_message_id_is_hashed_into_one(relay: FakeSmtp) -> None:
    sent = await provider_for(relay).send(replace(EMAIL, event_id="1Z999/OFD 2@sub:7"))

    assert sent.message_id is not None
    assert sent.message_id.endswith("@parcelstream.test>")
    assert " " not in sent.message_id
    assert "/" not in sent.message_id


async def test_starttls_with_auth_sends_and_authenticates() -> None:
    with FakeSmtp(tls="starttls", credentials=CREDENTIALS) as relay:
        assert relay.url.endswith("?starttls=true")
        await provider_for(relay).send(EMAIL)

    assert len(relay.mails) == 1
    assert relay.auth_attempts
    assert all(ok for _, ok in relay.auth_attempts)


async def test_smtps_speaks_tls_from_the_first_byte() -> None:
    with FakeSmtp(tls="implicit", credentials=CREDENTIALS) as relay:
        assert relay.url.startswith("smtps://")
        await provider_for(relay).send(EMAIL)

    assert len(relay.mails) == 1


async def test_a_wrong_password_is_permanent_and_never_shows() -> None:
    wrong = "wrong-password-0123"
    with FakeSmtp(tls="starttls", credentials=CREDENTIALS) as relay:
        url = relay.url.replace("p%40ss%3Aw%2Frd-0123", wrong)
        provider = SmtpProvider(url, SENDER, tls_context=relay.client_tls_context())
        error = await send_failing(provider)

    assert (error.retryable, error.status) == (False, 535)
    assert_no_secret(error, wrong)
    assert relay.mails == []


async def test_an_unknown_user_550_is_not_retryable(relay: FakeSmtp) -> None:
    relay.fail_next("550 5.1.1 <ada@example.com>: Recipient address rejected", stage="rcpt")

    error = await send_failing(provider_for(relay))

    assert (error.retryable, error.status, error.code) == (False, 550, "5.1.1")
    assert "Recipient address rejected" in error.reason


@pytest.mark.parametrize(
    ("stage", "reply"),
    [
        ("data", "451 4.3.0 Try again later"),
        ("mail", "421 4.7.0 Too many connections"),
        ("rcpt", "450 4.2.1 Mailbox busy"),
    ],
)
async def test_transient_4xx_replies_are_retryable(relay: FakeSmtp, stage: str, reply: str) -> None:
    relay.fail_next(reply, stage=stage)  # type: ignore[arg-type]

    error = await send_failing(provider_for(relay))

    assert (error.retryable, error.status) == (True, int(reply[:3]))


async def test_a_relay_that_stops_answering_times_out_as_retryable(relay: FakeSmtp) -> None:
    relay.delay_next(1.0)

    error = await send_failing(provider_for(relay, timeout=0.3))

    assert error.retryable
    assert "timed out" in error.reason


async def test_a_refused_connection_is_retryable(closed_port_url: str) -> None:
    url = closed_port_url.replace("http://", "smtp://")

    error = await send_failing(SmtpProvider(url, SENDER, local_hostname="notifier.test"))

    assert error.retryable


async def test_starttls_asked_of_a_relay_that_lacks_it_is_a_configuration_error(
    relay: FakeSmtp,
) -> None:
    provider = SmtpProvider(relay.url + "?starttls=true", SENDER, local_hostname="notifier.test")

    error = await send_failing(provider)

    assert not error.retryable


async def test_a_header_with_a_line_break_is_refused_before_connecting(relay: FakeSmtp) -> None:
    error = await send_failing(
        provider_for(relay), replace(EMAIL, subject="Hi\r\nBcc: victim@example.com")
    )

    assert not error.retryable
    assert relay.mails == []


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("smtp://relay.local", SmtpTarget("relay.local", 25, None, None, False, False)),
        (
            "smtp://u%40x:p%3Aw@relay.local:587?starttls=true",
            SmtpTarget("relay.local", 587, "u@x", "p:w", False, True),
        ),
        (
            "smtps://u:p@smtp.example.com",
            SmtpTarget("smtp.example.com", 465, "u", "p", True, False),
        ),
    ],
)
def test_smtp_urls_parse_into_targets(url: str, target: SmtpTarget) -> None:
    assert parse_smtp_url(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "http://relay.local",
        "smtp://",
        "smtp://relay.local?tls=1",
        "smtp://relay.local?starttls=maybe",
        "smtps://relay.local?starttls=true",
    ],
)
def test_unusable_smtp_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each URL has its own sentence
        parse_smtp_url(url)
