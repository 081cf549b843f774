"""Who holds a claim: the name background work writes into `claimed_by` columns (work items,
webhooks, campaign runs and recipients), so an expired lease can be told from a held one."""

from __future__ import annotations

import os
import secrets
import socket

NAME_LENGTH = 64  # the claimed_by columns


def holder_name() -> str:
    """`host:pid:random`: unique to one worker even where containers share a host name and a
    pid, and cut to fit the claimed_by columns (a Kubernetes pod's host name alone may be 63
    characters; a longer name made every claim fail on PostgreSQL)."""
    tail = f":{os.getpid()}:{secrets.token_hex(4)}"
    return socket.gethostname()[: NAME_LENGTH - len(tail)] + tail
