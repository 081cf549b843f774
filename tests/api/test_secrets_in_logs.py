"""No secret reaches a log: API tokens, session cookies, passwords, the SMTP password and
webhook secrets stay out of every record the app, the worker and the sender write, even when
the things they authenticate fail."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from segmint.campaigns.sender import Sender
from segmint.worker.delivery import Deliverer
from tests.api.conftest import Api
from tests.smtp import SmtpServer


def test_secrets_stay_out_of_the_logs(
    api: Api, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = SmtpServer(credentials=("mailer", "right-password")).start()
    try:
        smtp_password = "smtp-Pa55word-secret"
        settings = {
            "host": "127.0.0.1",
            "port": server.port,
            "security": "none",
            "username": "mailer",
            "password": smtp_password,
            "from_email": "news@acme.test",
            "public_url": "http://testserver",
        }
        assert api.put("settings/mail", json=settings).status_code == 200
        api.post("leads", json={"email": "ann@a.test", "status": "new"})
        new = {"field": "status", "op": "eq", "value": "new"}
        segment = api.post("segments", json={"name": "New", "filter": new}).json()
        hook = api.post("webhooks", json={"url": "http://127.0.0.1:9/refused"}).json()
        campaign = api.post(
            "campaigns",
            json={"name": "C", "targeting": {"include_segments": [segment["id"]]}, "subject": "Hi"},
        ).json()
        api.post(f"campaigns/{campaign['id']}/runs")
        bad_token = {"Authorization": "Bearer sgm_deadbeef_not-a-real-token"}
        api.client.get("/api/v1/projects/default/segments", headers=bad_token)
        api.client.post("/login", data={"email": "owner@acme.test", "password": "guess-Pa55"})
        Sender(db, smtp_timeout=2.0, backoff_base=timedelta(0)).drain()  # login refused
        Deliverer(db).drain()  # connection refused
    finally:
        server.stop()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "cannot use SMTP server" in logged  # the failures were logged...
    secrets = [
        smtp_password,
        *api.tokens.values(),
        "sgm_deadbeef_not-a-real-token",
        "guess-Pa55",
        hook["secret"],
        campaign["webhook_secret"],
    ]
    for secret in secrets:  # ...without what would let a reader of the log in
        assert secret not in logged
