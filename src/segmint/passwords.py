"""Which passwords Segmint accepts: long enough, and not one an attacker tries first.

Every path that sets a password (`segmint init`, `segmint users add`, the users API) goes
through `check_password`, so the rule and its messages are the same everywhere.
"""

from __future__ import annotations

import string
from functools import cache
from importlib import resources

from segmint.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 200
RULE = f"at least {MIN_LENGTH} characters, not a common password or an easy pattern"
# Rows a finger runs along: a password that is a stretch of one (either way) is a pattern.
SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "1234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiop",
    "azertyuiop",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
_EDGES = string.digits + string.punctuation + " "


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("segmint").joinpath("data/common_passwords.txt").read_text()
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _weak(message: str) -> InvalidInput:
    return InvalidInput(f"{message}; a password needs {RULE}", "password")


def _is_sequence(lowered: str) -> bool:
    for row in SEQUENCES:
        for run in (row, row[::-1]):
            if lowered in run * 2:  # doubled: runs that wrap around (7890123456) count too
                return True
    return False


def _repeats_a_short_unit(lowered: str) -> bool:
    """One character, or a unit of up to four repeated (abababab, 12341234)."""
    for size in range(1, 5):
        unit = lowered[:size]
        if unit * (len(lowered) // size) + unit[: len(lowered) % size] == lowered:
            return True
    return False


def _is_common(lowered: str) -> bool:
    # "Password2024!" is "password" with decoration: the base word is what is guessed.
    base = lowered.strip(_EDGES)
    return lowered in common_passwords() or base in common_passwords() or not base


def _uses_email(lowered: str, email: str | None) -> bool:
    if not email:
        return False
    email = email.strip().lower()
    local = email.partition("@")[0]
    return email in lowered or (len(local) >= 4 and local in lowered)


def check_password(password: str, email: str | None = None) -> None:
    """Raise InvalidInput (path `password`) naming what is wrong with a password."""
    if len(password) < MIN_LENGTH:
        raise _weak(f"too short ({len(password)} characters)")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"must be at most {MAX_LENGTH} characters", "password")
    lowered = password.lower()
    if _repeats_a_short_unit(lowered):
        raise _weak("a repeated character or short pattern")
    if _is_sequence(lowered):
        raise _weak("a keyboard or number sequence")
    if _is_common(lowered):
        raise _weak("one of the most common passwords")
    if _uses_email(lowered, email):
        raise _weak("contains your email address or its name")
