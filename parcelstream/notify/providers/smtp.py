"""E-mail over SMTP (aiosmtplib) to any relay: the embedded default, and a scaled-out option.

URL (`PARCELSTREAM_SMTP_URL`): `smtp://[user:pass@]host[:port][?starttls=true]` (port 25; plain
unless starttls=true, since a local relay rarely has a certificate we could check; with
starttls=true the relay must offer STARTTLS) or `smtps://[user:pass@]host[:port]` (TLS from the
first byte, port 465). User and password are percent-decoded.

Replies map to retries the way SMTP means them: 4xx is transient (greylisting, a full queue),
5xx is permanent (550 unknown user) and never retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from parcelstream.notify.providers.base import Message, ProviderError, Sent
from parcelstream.notify.providers.transport import first_line, scrub

_ATOM = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_ENHANCED_STATUS = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"an SMTP URL starts with smtp:// or smtps://, not {parts.scheme}://")
    if not parts.hostname:
        raise ValueError("the SMTP URL names no host")
    options = {name: values[-1].lower() for name, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"starttls"}
    if unknown:
        raise ValueError(f"unknown SMTP URL option(s): {', '.join(sorted(unknown))}")
    starttls = options.get("starttls", "false")
    if starttls not in _TRUE | _FALSE:
        raise ValueError("starttls must be true or false")
    implicit = parts.scheme == "smtps"
    if implicit and starttls in _TRUE:
        raise ValueError("smtps:// is TLS already; starttls=true goes with smtp://")
    return SmtpTarget(
        hostname=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=implicit,
        start_tls=starttls in _TRUE,
    )


class SmtpProvider:
    name: str = "smtp"

    def __init__(
        self,
        url: str,
        sender: str,
        *,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
        max_connections: int = 4,
        local_hostname: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._target = parse_smtp_url(url)
        _, address = parseaddr(sender)
        if "@" not in address:
            raise ValueError(f"not an e-mail address: {sender!r}")
        self._sender = sender
        self._domain = address.rpartition("@")[2]
        self._timeout = timeout
        self._tls_context = tls_context
        self._local_hostname = local_hostname
        self._clock = clock
        # Relays cap connections per client; beyond that they answer 421 to everyone.
        self._slots = asyncio.Semaphore(max_connections)

    async def send(self, message: Message) -> Sent:
        try:
            mime = self._mime(message)
        except ValueError as exc:  # a header with a line break, an unencodable address…
            reason = f"smtp: cannot build the message ({exc})"
            raise ProviderError(reason, retryable=False) from None
        if self._local_hostname is None:
            # getfqdn may wait on DNS; ask once, off the event loop, rather than per connection.
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        target = self._target
        # A connection per message: no idle connection for the relay to drop between sends,
        # and a local relay makes the handshake cheap.
        client = aiosmtplib.SMTP(
            hostname=target.hostname,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.use_tls,
            start_tls=target.start_tls,
            timeout=self._timeout,
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
        )
        async with self._slots:
            try:
                async with client:
                    await client.send_message(mime)
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise _error(exc, (target.password or "",)) from None
        return Sent(self.name, str(mime["Message-ID"]))

    async def close(self) -> None:
        return None

    def _mime(self, message: Message) -> EmailMessage:
        mime = EmailMessage()
        mime["From"] = self._sender
        mime["To"] = message.to
        mime["Subject"] = message.subject or ""
        mime["Date"] = format_datetime(self._clock())
        mime["Message-ID"] = _message_id(message.event_id, self._domain)
        # RFC 3834: out-of-office robots must not answer a notification.
        mime["Auto-Submitted"] = "auto-generated"
        if message.unsubscribe_url:
            mime["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mime.set_content(message.text)
        if message.html is not None:
            mime.add_alternative(message.html, subtype="html")
        return mime


def _message_id(event_id: str, domain: str) -> str:
    """Derived from the event id, not random: a retry after a lost reply to DATA then reaches the
    mailbox as the same message, which stores that dedupe on Message-ID show once."""
    local = event_id if _ATOM.fullmatch(event_id) else hashlib.sha256(event_id.encode()).hexdigest()
    return f"<{local}@{domain}>"


def _error(exc: Exception, secrets: tuple[str, ...]) -> ProviderError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        detail = first_line(exc.message)
        enhanced = _ENHANCED_STATUS.match(detail)
        return ProviderError(
            scrub(f"smtp answered {exc.code}: {detail}", secrets),
            retryable=not 500 <= exc.code < 600,
            status=exc.code,
            code=enhanced.group(1) if enhanced else None,
        )
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return ProviderError(f"smtp: timed out ({type(exc).__name__})", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        return ProviderError(
            scrub(f"smtp: connection failed ({type(exc).__name__}: {exc})", secrets),
            retryable=True,
        )
    # What is left is the relay lacking what the URL asks for (STARTTLS, AUTH, a mechanism we
    # speak): configuration, which no retry fixes.
    return ProviderError(scrub(f"smtp: {exc}", secrets), retryable=False)
