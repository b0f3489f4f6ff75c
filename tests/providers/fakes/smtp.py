"""A local SMTP relay (aiosmtpd) that keeps every message it accepts, with optional AUTH, STARTTLS
or implicit TLS (a self-signed certificate made here), and injected replies and delays."""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import tempfile
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Stage = Literal["mail", "rcpt", "data"]


@dataclass(frozen=True, slots=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


@dataclass(frozen=True, slots=True)
class TestCertificate:
    """A self-signed certificate for localhost and 127.0.0.1."""

    cert_path: Path
    key_path: Path
    pem: str

    __test__ = False  # not a pytest test class, despite the name

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.pem)


def make_certificate(folder: Path | None = None) -> TestCertificate:
    folder = folder or Path(tempfile.mkdtemp(prefix="fake-smtp-"))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_text(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TestCertificate(cert_path, key_path, pem)


@dataclass(frozen=True, slots=True)
class _Reply:
    stage: Stage
    reply: str | None
    """An SMTP reply line like "550 5.1.1 unknown user"; None: the normal answer, late."""
    delay: float = 0.0


class FakeSmtp:
    """`mails` holds what was accepted; `url` is what SmtpProvider takes (with the credentials
    and the TLS mode); `client_tls_context()` trusts this relay's certificate."""

    def __init__(
        self,
        *,
        tls: Literal["none", "starttls", "implicit"] = "none",
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.tls = tls
        self.credentials = credentials
        self.mails: list[Mail] = []
        self.auth_attempts: list[tuple[str, bool]] = []
        self.certificate = make_certificate() if tls != "none" else None
        self._replies: deque[_Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._controller: Controller | None = None
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        userinfo = ""
        if self.credentials:
            userinfo = (
                f"{quote(self.credentials[0], safe='')}:{quote(self.credentials[1], safe='')}@"
            )
        query = "?starttls=true" if self.tls == "starttls" else ""
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}{query}"

    def client_tls_context(self) -> ssl.SSLContext | None:
        return self.certificate.client_context() if self.certificate else None

    def start(self) -> Self:
        self.port = _free_port()
        kwargs: dict[str, Any] = {}
        if self.certificate and self.tls == "starttls":
            kwargs.update(tls_context=self.certificate.server_context(), require_starttls=True)
        if self.certificate and self.tls == "implicit":
            kwargs.update(ssl_context=self.certificate.server_context())
        if self.credentials:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd only knows of TLS it started itself (STARTTLS); implicit TLS is TLS
                # all the same.
                auth_require_tls=self.tls == "starttls",
            )
        if self.credentials and self.tls == "implicit":
            # aiosmtpd warns about AUTH without (its own) TLS; over implicit TLS it is not so.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def fail_next(
        self, reply: str = "451 4.3.0 try again later", *, stage: Stage = "data", count: int = 1
    ) -> None:
        """Answer the next `count` MAIL, RCPT or DATA commands with `reply` instead of 250."""
        with self._lock:
            self._replies.extend([_Reply(stage, reply)] * count)

    def delay_next(self, seconds: float, *, count: int = 1) -> None:
        """Answer the next `count` DATA commands only after `seconds`."""
        with self._lock:
            self._replies.extend([_Reply("data", None, seconds)] * count)

    async def wait_for(self, count: int, within: float = 5.0) -> list[Mail]:
        deadline = time.monotonic() + within
        while len(self.mails) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"FakeSmtp accepted {len(self.mails)} of {count} mails")
            await asyncio.sleep(0.01)
        return list(self.mails)

    # --- aiosmtpd handler hooks ---------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        injected = await self._injected("mail")
        if injected:
            return injected
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        injected = await self._injected("rcpt")
        if injected:
            return injected
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        injected = await self._injected("data")
        if injected:
            return injected
        raw = envelope.original_content or b""
        # Line ends as a mailbox stores them, so tests compare bodies with plain "\n".
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), message, raw))
        return "250 2.0.0 Message accepted for delivery"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.credentials is not None
            and (data.login.decode(), data.password.decode()) == self.credentials
        )
        self.auth_attempts.append((mechanism, ok))
        # handled=False: aiosmtpd then answers 535 itself (True means "I replied already").
        return AuthResult(success=ok, handled=False)

    async def _injected(self, stage: Stage) -> str | None:
        with self._lock:
            if not self._replies or self._replies[0].stage != stage:
                return None
            planned = self._replies.popleft()
        if planned.delay > 0:
            # Waiting on the stop event, so stop() does not wait out a long injected delay.
            await asyncio.to_thread(self._stopping.wait, planned.delay)
        return planned.reply


def _free_port() -> int:
    # aiosmtpd's Controller wants a port number before it starts; the race with another process
    # taking it in between is theoretical on a test machine.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
