"""What one request may cost: its body's size, how often a caller may ask, and how long one
SQL statement may run.

- Body size: a declared Content-Length over the limit is refused before anything is read; a
  chunked body is counted as it arrives and refused when it crosses the limit (413). Imports
  take large files and have a limit of their own.
- Rate: a token bucket per caller (an API token, a session, else the client address) in this
  process: `requests_per_minute` on average, `burst` at once; over it, 429 with Retry-After.
  Several server processes each keep their own buckets (documented in docs/security.md).
- Client address: `X-Forwarded-For` is believed only from the proxies named in
  `SEGMINT_TRUSTED_PROXIES`; from anyone else it is ignored, so a forged header cannot give each
  log-in attempt a fresh address to be rate limited under.
- Statement timeout: a request's statements are cancelled after `statement_timeout` seconds
  (PostgreSQL's statement_timeout; on SQLite a progress handler interrupts the statement),
  answered with 503 and a message saying what to do. Exports stream on their own connection and
  are not cut short.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from segmint.auth import SESSION_COOKIE

MB = 1024 * 1024
IMPORT_PATHS = ("/leads/import",)  # CSV uploads: large by nature
MAX_CALLERS = 100_000  # buckets kept before full ones are forgotten

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Limits:
    body_bytes: int = 10 * MB
    import_body_bytes: int = 1024 * MB
    requests_per_minute: int = 1200  # 0: no rate limit
    burst: int = 200
    statement_timeout: float = 30.0  # seconds; 0: none
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-For is believed

    @classmethod
    def from_env(cls) -> Limits:
        """`SEGMINT_MAX_BODY_MB`, `SEGMINT_RATE_LIMIT` (requests a minute per caller, 0 off),
        `SEGMINT_STATEMENT_TIMEOUT` (seconds, 0 off), `SEGMINT_TRUSTED_PROXIES` (addresses or
        networks, comma-separated; default none); defaults otherwise."""
        default = cls()
        return cls(
            body_bytes=int(float(os.environ.get("SEGMINT_MAX_BODY_MB", 10)) * MB),
            import_body_bytes=default.import_body_bytes,
            requests_per_minute=int(
                os.environ.get("SEGMINT_RATE_LIMIT", default.requests_per_minute)
            ),
            burst=default.burst,
            statement_timeout=float(
                os.environ.get("SEGMINT_STATEMENT_TIMEOUT", default.statement_timeout)
            ),
            trusted_proxies=parse_networks(os.environ.get("SEGMINT_TRUSTED_PROXIES", "")),
        )

    def body_limit(self, path: str) -> int:
        return self.import_body_bytes if path.endswith(IMPORT_PATHS) else self.body_bytes


def parse_networks(text: str) -> tuple[Network, ...]:
    """'10.0.0.1, 192.168.0.0/16' -> networks; a bad entry is an error naming it (at start-up)."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"SEGMINT_TRUSTED_PROXIES: {item!r} is not an address or network"
            ) from None
    return tuple(networks)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def forwarded_client(peer: str, header: str | None, proxies: tuple[Network, ...]) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy; then the nearest
    address in X-Forwarded-For that is not one (each proxy appends who it heard from, so only
    entries added by trusted proxies are believed, read from the right)."""
    if not header or not _trusted(peer, proxies):
        return peer
    client = peer
    for entry in reversed([part.strip() for part in header.split(",")]):
        try:
            ipaddress.ip_address(entry)
        except ValueError:
            break  # a malformed entry: nothing left of it can be believed
        client = entry
        if not _trusted(entry, proxies):
            break
    return client


class ProxiedClient:
    """Sets the request's client address from X-Forwarded-For when, and only when, it comes
    from a trusted proxy; everything after (the rate limit, logs) sees the real client."""

    def __init__(self, app: App, limits: Limits) -> None:
        self.app = app
        self.proxies = limits.trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and self.proxies:
            header = dict(scope.get("headers") or []).get(b"x-forwarded-for")
            text = header.decode("latin-1") if header else None
            scope = {**scope, "client": (forwarded_client(client[0], text, self.proxies), 0)}
        await self.app(scope, receive, send)


def _size(limit: int) -> str:
    return f"{limit / MB:g} MB" if limit >= MB else f"{limit} bytes"


async def _json_error(send: Send, status: int, code: str, message: str, headers: list[Any]) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse request bodies over the limit (413), whether declared or streamed."""

    def __init__(self, app: App, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.body_limit(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            message = f"the request body is larger than {_size(limit)}"
            await _json_error(send, 413, "too_large", message, [])
            return
        received = 0
        too_large = False

        async def counted() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # stop reading: the app sees the client go away
                too_large = True
                return {"type": "http.disconnect"}
            return message

        replaced = False

        async def answer(message: Message) -> None:
            """Whatever the app makes of a cut body, the client is told it was too large."""
            nonlocal replaced
            if not too_large:
                await send(message)
            elif not replaced:
                replaced = True
                text = f"the request body is larger than {_size(limit)}"
                await _json_error(send, 413, "too_large", text, [])

        try:
            await self.app(scope, counted, answer)
        except Exception:
            if not too_large:
                raise
            await answer({})


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimit:
    """Token buckets per caller, refilled at requests_per_minute / 60 a second."""

    app: App
    limits: Limits
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limited = self.limits.requests_per_minute > 0 and scope["type"] == "http"
        if limited and _counts(scope):
            wait = self._take(_caller(scope))
            if wait > 0:
                retry = str(max(1, math.ceil(wait)))
                message = f"too many requests: at most {self.limits.requests_per_minute} a minute"
                await _json_error(
                    send, 429, "rate_limited", f"{message}; retry in {retry} s",
                    [(b"retry-after", retry.encode())],
                )  # fmt: skip
                return
        await self.app(scope, receive, send)

    def _take(self, key: str) -> float:
        """Take a token; 0 when granted, else the seconds until one is there."""
        rate = self.limits.requests_per_minute / 60.0
        now = self.clock()
        with self._lock:
            if key not in self._buckets and len(self._buckets) >= MAX_CALLERS:
                self._forget_full(now, rate)
            bucket = self._buckets.get(key) or _Bucket(float(self.limits.burst), now)
            bucket.tokens = min(self.limits.burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            self._buckets[key] = bucket
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / rate

    def _forget_full(self, now: float, rate: float) -> None:
        """Drop callers whose bucket has refilled: they are as if never seen (memory stays
        bounded however many addresses call)."""
        burst = self.limits.burst
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * rate < burst
        }


def _counts(scope: Scope) -> bool:
    """The API and log-in attempts are limited; pages, static files and tracking links are not."""
    path: str = scope["path"]
    return path.startswith("/api/") or (path == "/login" and scope.get("method") == "POST")


def _caller(scope: Scope) -> str:
    """Who is asking, without keeping their secret: a hash of the token or session cookie."""
    headers = dict(scope.get("headers") or [])
    authorization = headers.get(b"authorization", b"")
    if authorization.lower().startswith(b"bearer "):
        return "token:" + hashlib.sha256(authorization[7:].strip()).hexdigest()[:24]
    for part in headers.get(b"cookie", b"").split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name == SESSION_COOKIE.encode() and value:
            return "session:" + hashlib.sha256(value).hexdigest()[:24]
    client = scope.get("client") or ("unknown", 0)
    return f"address:{client[0]}"
