"""Concurrent writers on one lead: every change survives (no lost update), on both databases
(PostgreSQL runs the writers truly in parallel; SQLite takes them one at a time)."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint.app import create_app
from tests.api.conftest import BASE, Api

WRITERS = 4
WRITES = 15


def test_parallel_patches_of_one_lead_keep_every_change(api: Api, db: Engine) -> None:
    """Each writer sets its own custom field, over and over. Custom values merge into what is
    stored, so a write that read the lead before another one committed must not write over it:
    at the end every writer's last value is there."""
    for writer in range(WRITERS):
        api.post("custom-fields", json={"key": f"w{writer}", "label": "W", "type": "number"})
    lead = api.post("leads", json={"email": "ann@x.test"}).json()
    headers = {"Authorization": f"Bearer {api.tokens['owner']}"}
    errors: list[str] = []
    app = create_app(db)  # built once: building apps in several threads at once is not safe

    def write(writer: int) -> None:
        with TestClient(app) as client:
            for n in range(WRITES):
                body = {"custom": {f"w{writer}": n}}
                answer = client.patch(f"{BASE}/leads/{lead['id']}", json=body, headers=headers)
                if answer.status_code != 200:
                    errors.append(answer.text)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    stored = api.get(f"leads/{lead['id']}").json()
    assert stored["custom"] == {f"w{w}": WRITES - 1 for w in range(WRITERS)}
