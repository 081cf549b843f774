"""A real SMTP server (aiosmtpd) on a local port, recording what it accepts, that can be told
to misbehave: refuse recipients, answer 4xx for a while, go down, or hold a conversation at a
chosen point so a test can kill the client there."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


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
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        for address in envelope.rcpt_tos:
            await self._held("data", address)
        return "250 2.0.0 accepted"


class SmtpServer:
    """Serves an Inbox on 127.0.0.1; `stop()` and `start()` take it down and up again on the
    same port (connections are refused in between)."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
