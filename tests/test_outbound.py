"""Which addresses outbound requests may reach (no database: the rules alone). Delivery through
them is tested in tests/engine/test_webhooks.py and tests/campaigns/test_delivery.py."""

from __future__ import annotations

import ipaddress

import pytest

from segmint.outbound import kind_of_private


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "a link-local (cloud metadata) address"),
        ("100.100.100.200", "a reserved address"),  # carrier-grade NAT; Alibaba's metadata
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a private address"),
        ("255.255.255.255", "a private address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fe80::1", "a link-local (cloud metadata) address"),
        ("fd00:ec2::254", "a private address"),  # AWS's IPv6 metadata service
        ("ff02::1", "a multicast address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:169.254.169.254", "a link-local (cloud metadata) address"),
        ("2002:a00:1::", "a private address"),  # 6to4 around 10.0.0.1
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 around 127.0.0.1
    ],
)
def test_inside_addresses_are_named_for_what_they_are(address: str, kind: str) -> None:
    assert kind_of_private(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass(address: str) -> None:
    assert kind_of_private(ipaddress.ip_address(address)) is None
