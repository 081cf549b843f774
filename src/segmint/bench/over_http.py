"""The API served over real HTTP inside the bench's process, so a request is timed as a browser
sees it (routing, authentication, JSON, the socket) while answering from the index the bench
built, which a `segmint serve` subprocess would have to build again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import httpx
import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.app import create_app
from segmint.index import Settings
from segmint.projects import Project
from segmint.store.tables import api_tokens, users

HOST: Final = "127.0.0.1"
USER_EMAIL: Final = "bench@segmint.bench"
TOKEN_NAME: Final = "bench over http"
START_TIMEOUT: Final = 30.0
REQUEST_TIMEOUT: Final = 600.0  # the SQL path's segments list takes seconds at a million leads


@contextmanager
def client(engine: Engine, settings: Settings, project: Project) -> Iterator[httpx.Client]:
    """A client of the API over `engine`, served on a free port of 127.0.0.1 until the block
    ends, signed in as an owner of the project (a token made for the block, removed after)."""
    token = _issue_token(engine, project)
    # No lifespan: its shutdown would let go of the index the bench goes on measuring.
    app = create_app(engine, index=settings)
    config = uvicorn.Config(app, host=HOST, port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bench-http", daemon=True)
    thread.start()
    try:
        port = _wait_started(server)
        headers = {"Authorization": f"Bearer {token}"}
        base_url = f"http://{HOST}:{port}"
        with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        with engine.begin() as conn:
            conn.execute(api_tokens.delete().where(api_tokens.c.name == TOKEN_NAME))


def _wait_started(server: uvicorn.Server) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the bench's HTTP server did not start")
        time.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


def _issue_token(engine: Engine, project: Project) -> str:
    with engine.begin() as conn:
        found = conn.execute(
            sa.select(users.c.id).where(
                users.c.organization_id == project.organization_id, users.c.email == USER_EMAIL
            )
        ).scalar()
        user_id = (
            int(found)
            if found is not None
            else auth.create_user(conn, project.organization_id, USER_EMAIL, "owner")
        )
        return auth.issue_token(conn, user_id, TOKEN_NAME, project.id)
