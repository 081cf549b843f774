"""A real SMTP server (aiosmtpd) on a local port, recording what it accepts, that can be told
to misbehave: refuse recipients, answer 4xx for a while, go down, or hold a conversation at a
chosen point so a test can kill the client there."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Hold:
    """Stop at a stage ("rcpt" before answering RCPT TO, "data" after taking a message but
    before answering 250) for one address, until released."""

    stage: str
    address: str
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    rejected: set[str] = field(default_factory=set)  # RCPT TO answered 550
    temporary_failures: int = 0  # DATA answered 451 this many times
    hold: Hold | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def addresses(self) -> list[str]:
        with self.lock:
            return [str(m["To"]) for m in self.messages]

    async def _held(self, stage: str, address: str) -> None:
        hold = self.hold
        if hold is not None and hold.stage == stage and hold.address == address:
            hold.reached.set()
            while not hold.release.is_set():
                await asyncio.sleep(0.01)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        await self._held("rcpt", address)
        if address in self.rejected:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.temporary_failures > 0:
                self.temporary_failures -= 1
                return "451 4.3.0 try again later"
        if envelope.smtp_utf8:  # headers may hold UTF-8 (RFC 6532)
            content = envelope.content.decode()
            message = message_from_string(content, policy=policy.default)
        else:
            message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        for address in envelope.rcpt_tos:
            await self._held("data", address)
        return "250 2.0.0 accepted"


class SmtpServer:
    """Serves an Inbox on 127.0.0.1; `stop()` and `start()` take it down and up again on the
    same port (connections are refused in between). With a TLS context it requires STARTTLS;
    with credentials it requires AUTH with them; with `smtputf8` it offers SMTPUTF8 (non-ASCII
    addresses and headers)."""

    def __init__(
        self,
        tls: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
        smtputf8: bool = False,
    ) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.tls = tls
        self.credentials = credentials
        self.smtputf8 = smtputf8
        self.logins: list[str] = []
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        options: dict[str, Any] = {"enable_SMTPUTF8": self.smtputf8}
        if self.tls is not None:
            options.update(tls_context=self.tls, require_starttls=True)
        if self.credentials is not None:
            options.update(authenticator=self._authenticate, auth_required=True)
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()
        return self

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else ""
        password = auth_data.password.decode() if isinstance(auth_data, LoginPassword) else ""
        ok = (login, password) == self.credentials
        if ok:
            self.logins.append(login)
        return AuthResult(success=ok)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 and the certificate a client must trust (openssl CLI)."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert
