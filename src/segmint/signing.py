"""Signed webhook bodies, for membership webhooks and webhook campaigns alike.

`X-Segmint-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>`: a receiver
recomputes it over the bytes it got and compares (`verify` is what it does).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Segmint-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does with the header (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, body), signature)
