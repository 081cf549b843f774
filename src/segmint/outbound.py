"""Outbound HTTP to URLs that users give us (webhooks, campaign webhooks), kept off the inside
of the network (SSRF).

A URL is checked when it is saved, but that is a courtesy (a clear 422 at once): a name can
resolve to a public address then and to 127.0.0.1 later (DNS rebinding). The check that counts
is made whenever a connection is opened: the host is resolved once, every address it resolves
to must be public, and the socket connects to an address from that same answer. TLS (SNI and
the certificate) and the Host header still use the URL's host name.

`SEGMINT_ALLOW_PRIVATE_WEBHOOKS=1` lets users reach private addresses (receivers on the same
machine or network; the tests' local receivers).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable

import httpcore
import httpx

ALLOW_PRIVATE_ENV = "SEGMINT_ALLOW_PRIVATE_WEBHOOKS"
_TRUE = ("1", "true", "yes", "on")
# httpx's own defaults, which its pool would otherwise have been given.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
# Where an IPv6 address carries an IPv4 one that a gateway would reach on our behalf.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def private_allowed() -> bool:
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in _TRUE


def client(timeout: float) -> httpx.Client:
    """An HTTP client for destinations users chose: public addresses only (unless allowed),
    redirects not followed (a public receiver could otherwise send us inside)."""
    return httpx.Client(transport=_PublicOnlyTransport(), timeout=timeout, follow_redirects=False)


def destination_problem(host: str) -> str | None:
    """Why Segmint will not connect to `host`, or None (the save-time courtesy check)."""
    if private_allowed():
        return None
    try:
        addresses = _resolve(host, None)
    except (OSError, UnicodeError):
        return f"cannot resolve the host {host!r}"
    return _refusal(host, addresses)


def kind_of_private(address: IPAddress) -> str | None:
    """What makes an address unfit for outbound requests, or None for a public one."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return kind_of_private(embedded)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:  # 169.254.169.254 and friends: cloud metadata services
        return "a link-local (cloud metadata) address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _resolve(host: str, port: int | None) -> list[str]:
    """Every address `host` resolves to, in the resolver's order (an IP literal is itself)."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def _refusal(host: str, addresses: Iterable[str]) -> str | None:
    for address in addresses:
        kind = kind_of_private(ipaddress.ip_address(address.split("%")[0]))
        if kind is not None:
            literal = host.strip("[]") == address
            what = f"{address} is {kind}" if literal else f"{host} resolves to {address}, {kind}"
            return (
                f"{what}: webhooks only reach public addresses "
                f"(an operator may set {ALLOW_PRIVATE_ENV}=1)"
            )
    return None


class _PublicOnlyBackend(httpcore.NetworkBackend):
    """Opens each connection to an address it has just resolved and vetted: one lookup, so
    the answer checked is the answer used."""

    def __init__(self) -> None:
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = _resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve the host {host!r}: {exc}") from exc
        refusal = None if private_allowed() else _refusal(host, addresses)
        if refusal is not None:
            raise httpcore.ConnectError(refusal)
        failure: Exception | None = None
        for address in addresses:
            try:
                return self._sockets.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # getaddrinfo answers at least one address or raises
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are not delivered to unix sockets")

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


class _PublicOnlyTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        # httpx takes no network backend of its own; its connection pool is the one seam.
        # Environment proxies are not used: httpx skips them when a transport is given.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=_PublicOnlyBackend(),
        )
