"""Delivery of campaign runs: every recipient gets exactly one message, whatever fails.

A sender leases a run (several workers share runs, never one run's recipients at once), freezes
it if it is pending, then works through its queued recipients in id order:

- email: per recipient, MAIL FROM and RCPT TO; then the row moves `queued` -> `sending` in a
  committed conditional UPDATE (the claim: of two senders, one wins); then DATA; then `sent`,
  with an `email_sent` event, in one transaction. A recipient is only ever claimed once, so no
  failure sends it twice. A sender killed between its claim and that last commit leaves a
  `sending` row; when its lease runs out it becomes `unconfirmed` (the message may have gone
  out) and is never resent. The window is the DATA exchange: milliseconds.
- webhook: a batch of recipients is claimed, POSTed signed, and marked sent on a 2xx. A killed
  sender's batch is sent again after the lease: every recipient carries an idempotency key.

Temporary failures (4xx replies) retry the recipient with backoff, up to `max_attempts`; a
permanent one (5xx) fails it with the server's reason. A server that is down or drops the
connection backs the whole run off (10 s, 20 s, ... up to an hour), consuming no recipient's
attempts. Sending is paced to the project's `rate_per_minute`.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import __version__, outbound
from segmint.campaigns import mail_settings, messages, runs, tracking, triggers
from segmint.campaigns.definitions import get_campaign
from segmint.campaigns.mail_settings import MailSettings
from segmint.campaigns.templates import Message, RenderError
from segmint.clock import SYSTEM_CLOCK, Clock, as_utc
from segmint.engine.events import NewEvent, record_events
from segmint.projects import Project, get_project_by_id
from segmint.signing import SIGNATURE_HEADER, sign
from segmint.store.claims import holder_name
from segmint.store.rows import CampaignRunRow
from segmint.store.tables import campaign_recipients, campaign_runs, campaigns

log = logging.getLogger("segmint.campaigns")

CHUNK = 50  # recipients read per step
WEBHOOK_BATCH = 100
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5
MAX_RUN_FAILURES = 5
RETRY_BASE = timedelta(minutes=1)  # a recipient's 4xx: 1, 2, 4, 8 minutes
BACKOFF_BASE = timedelta(seconds=10)  # the channel down: 10 s, 20 s, 40 s ...
BACKOFF_MAX = timedelta(hours=1)
SMTP_TIMEOUT = 30.0
IDLE_SLEEP = 0.5


class ChannelDown(Exception):
    """The SMTP server or webhook receiver cannot be used now: the run backs off."""


class Undeliverable(Exception):
    """An address this SMTP server cannot take, whatever we retry: the recipient fails."""


@dataclass
class Sender:
    engine: Engine
    clock: Clock = SYSTEM_CLOCK
    name: str = ""
    chunk: int = CHUNK
    lease: timedelta = LEASE  # a run's, renewed as it goes: a dead sender's run is taken over
    inflight_lease: timedelta = LEASE  # a recipient's between its claim and its last commit
    max_attempts: int = MAX_ATTEMPTS
    max_run_failures: int = MAX_RUN_FAILURES  # in a row, the last unexpected: the run ends
    retry_base: timedelta = RETRY_BASE
    backoff_base: timedelta = BACKOFF_BASE
    backoff_max: timedelta = BACKOFF_MAX
    smtp_timeout: float = SMTP_TIMEOUT
    sleep: Callable[[float], object] = time.sleep  # pacing; tests record what is asked
    monotonic: Callable[[], float] = time.monotonic
    only_run: int | None = None  # work on this run alone (`segmint campaigns run`)
    _next_slot: float = field(default=0.0, init=False)
    _http: httpx.Client | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or holder_name()

    # -- loops ------------------------------------------------------------------------------------

    def run_once(self) -> int:
        """One step of one run: freeze it, or deliver a chunk; returns how much was done."""
        run = self._claim_run()
        if run is None:
            return 0
        try:
            return self._step(run)
        except ChannelDown as exc:
            self._back_off(run, str(exc))
            return 0
        except sa.exc.OperationalError:
            raise  # the database is unavailable: the worker's loop waits for it
        except Exception as exc:
            # A bug or data no check foresaw: this run alone waits, then gives up.
            log.exception("campaign run %s failed", run.id)
            self._back_off(run, f"{type(exc).__name__}: {exc}", self.max_run_failures)
            return 1  # a state changed (and this is bounded: the run gives up)
        finally:
            self._release(run)

    def drain(self, limit: int = 100_000) -> int:
        """Work until nothing is left that can be done now (tests, `campaigns run`)."""
        total = 0
        for _ in range(limit):
            done = self.run_once()
            if not done:
                break
            total += done
        return total

    def step(self) -> int:
        """What the worker's campaign loop does each turn: create the runs that are due, decide
        the triggered sends that are due, then one step of one run."""
        runs.schedule_due(self.engine, self.clock.now())
        decided = triggers.release_due(self.engine, self.clock.now())
        return self.run_once() + decided

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- runs -------------------------------------------------------------------------------------

    def _claim_run(self) -> CampaignRunRow | None:
        now = self.clock.now()
        free = sa.or_(campaign_runs.c.leased_until.is_(None), campaign_runs.c.leased_until < now)
        query = (
            sa.select(campaign_runs)
            .join(
                campaigns,
                sa.and_(
                    campaigns.c.project_id == campaign_runs.c.project_id,
                    campaigns.c.id == campaign_runs.c.campaign_id,
                ),
            )
            .where(
                campaign_runs.c.state.in_(("pending", "sending")),
                campaigns.c.state != "paused",
                sa.or_(
                    campaign_runs.c.next_attempt_at.is_(None),
                    campaign_runs.c.next_attempt_at <= now,
                ),
                free,
            )
            .order_by(campaign_runs.c.id)
            .limit(1)
        )
        if self.only_run is not None:
            query = query.where(campaign_runs.c.id == self.only_run)
        query = query.with_for_update(skip_locked=True, of=campaign_runs)
        with self.engine.begin() as conn:
            run = conn.execute(query).first()
            if run is None:
                return None
            taken = conn.execute(
                campaign_runs.update()
                .where(campaign_runs.c.id == run.id, free)
                .values(leased_by=self.name, leased_until=now + self.lease)
            )
            return CampaignRunRow.of(run) if taken.rowcount == 1 else None

    def _release(self, run: CampaignRunRow) -> None:
        self._lease(run, leased_by=None, leased_until=None)

    def _renew(self, run: CampaignRunRow) -> None:
        self._lease(run, leased_until=self.clock.now() + self.lease)

    def _lease(self, run: CampaignRunRow, **values: Any) -> None:
        """Change this sender's lease of a run (nothing, if another sender holds it now)."""
        with self.engine.begin() as conn:
            conn.execute(
                campaign_runs.update()
                .where(
                    campaign_runs.c.project_id == run.project_id,
                    campaign_runs.c.id == run.id,
                    campaign_runs.c.leased_by == self.name,
                )
                .values(**values)
            )

    def _back_off(self, run: CampaignRunRow, error: str, give_up_after: int | None = None) -> None:
        """Retry the run later (10 s, 20 s, ...), or end it in `error` once it has failed
        `give_up_after` times in a row."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            failures = 1 + int(
                conn.execute(
                    sa.select(campaign_runs.c.consecutive_failures).where(
                        campaign_runs.c.project_id == run.project_id, campaign_runs.c.id == run.id
                    )
                ).scalar()
                or 0
            )
            values: dict[str, Any] = {"consecutive_failures": failures, "error": error[:1000]}
            delay = None
            if give_up_after is not None and failures >= give_up_after:
                values |= {"state": "error", "finished_at": now, "next_attempt_at": None}
                _fail_unsent(conn, run, f"not sent: the run stopped on an error: {error}")
            else:
                delay = min(self.backoff_base * 2 ** min(failures - 1, 20), self.backoff_max)
                values["next_attempt_at"] = now + delay
            conn.execute(
                campaign_runs.update()
                .where(campaign_runs.c.project_id == run.project_id, campaign_runs.c.id == run.id)
                .values(**values)
            )
        if delay is None:
            log.error("campaign run %s given up after %s failures: %s", run.id, failures, error)
        else:
            log.warning("campaign run %s: %s (retrying in %s)", run.id, error, delay)

    def _channel_up(self, run: CampaignRunRow) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                campaign_runs.update()
                .where(
                    campaign_runs.c.project_id == run.project_id,
                    campaign_runs.c.id == run.id,
                    campaign_runs.c.consecutive_failures > 0,
                )
                .values(consecutive_failures=0, next_attempt_at=None, error=None)
            )

    def _step(self, run: CampaignRunRow) -> int:
        now = self.clock.now()
        with self.engine.begin() as conn:
            project = get_project_by_id(conn, run.project_id)
            if run.state == "pending":
                runs.freeze(conn, project, run, now)
                return 1
            campaign = get_campaign(conn, project, run.campaign_id)
            self._recover_stale(conn, project, run, campaign.channel, now)
            settings = mail_settings.load(conn, project)
            secret = mail_settings.tracking_secret(conn, project, settings, now)
        limit = WEBHOOK_BATCH if campaign.channel == "webhook" else self.chunk
        with self.engine.connect() as conn:
            due = self._due(conn, project, run, now, limit)
        if not due:
            with self.engine.begin() as conn:
                return int(runs.finish_if_done(conn, project, run.id, now))
        job = _Job(project, campaign, settings, secret)
        if campaign.channel == "webhook":
            done = self._deliver_webhook(run, job, due)
        else:
            done = self._deliver_email(run, job, due)
        self._channel_up(run)
        return done

    def _recover_stale(
        self,
        conn: sa.Connection,
        project: Project,
        run: CampaignRunRow,
        channel: str,
        now: datetime,
    ) -> None:
        """In-flight rows whose sender died: an email may have gone out (unconfirmed, never
        resent); a webhook batch is sent again (its receiver drops what it has seen)."""
        r = campaign_recipients
        stale = r.update().where(
            r.c.project_id == project.id,
            r.c.run_id == run.id,
            r.c.state == "sending",
            r.c.leased_until < now,
        )
        if channel == "webhook":
            conn.execute(stale.values(state="queued", leased_by=None, leased_until=None))
        else:
            conn.execute(
                stale.values(
                    state="unconfirmed",
                    last_error="the sender stopped while transmitting this message; it may have "
                    "been delivered, so it is not sent again",
                )
            )

    def _due(
        self, conn: sa.Connection, project: Project, run: CampaignRunRow, now: datetime, limit: int
    ) -> list[Any]:
        r = campaign_recipients
        query = (
            sa.select(r.c.id, r.c.lead_id, r.c.email, r.c.attempts)
            .where(
                r.c.project_id == project.id,
                r.c.run_id == run.id,
                r.c.state == "queued",
                sa.or_(r.c.next_attempt_at.is_(None), r.c.next_attempt_at <= now),
            )
            .order_by(r.c.id)
            .limit(limit)
        )
        return list(conn.execute(query))

    # -- recipients -------------------------------------------------------------------------------

    def _claim(self, job: _Job, ids: list[int]) -> set[int]:
        """Move these queued recipients to `sending` for this sender; returns those it got."""
        r = campaign_recipients
        now = self.clock.now()
        with self.engine.begin() as conn:
            rows = conn.execute(
                r.update()
                .where(r.c.project_id == job.project.id, r.c.id.in_(ids), r.c.state == "queued")
                .values(
                    state="sending",
                    leased_by=self.name,
                    leased_until=now + self.inflight_lease,
                    attempts=r.c.attempts + 1,
                )
                .returning(r.c.id)
            )
            return set(rows.scalars())

    def _mark_sent(self, job: _Job, recipients: list[Any], event_type: str) -> None:
        r = campaign_recipients
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(
                r.update()
                .where(
                    r.c.project_id == job.project.id,
                    r.c.id.in_([x.id for x in recipients]),
                    r.c.leased_by == self.name,
                    r.c.state.in_(("sending", "unconfirmed")),
                )
                .values(state="sent", sent_at=now, last_error=None, leased_until=None)
            )
            sent = [
                NewEvent(
                    x.lead_id, event_type, now, {"campaign_id": job.campaign.id, "run_id": x.run_id}
                )
                for x in recipients
            ]
            record_events(conn, job.project, sent, now)

    def _settle_failure(
        self, job: _Job, recipient: Any, error: str, permanent: bool, claimed: bool
    ) -> None:
        """A recipient the server refused: failed for good, or queued again with backoff."""
        r = campaign_recipients
        now = self.clock.now()
        attempts = recipient.attempts + 1
        give_up = permanent or attempts >= self.max_attempts
        values: dict[str, Any] = {"last_error": error[:1000], "leased_until": None}
        if give_up:
            values["state"] = "failed"
        else:
            values["state"] = "queued"
            values["next_attempt_at"] = now + self.retry_base * 2 ** (attempts - 1)
        if not claimed:
            values["attempts"] = attempts
        with self.engine.begin() as conn:
            conn.execute(
                r.update()
                .where(
                    r.c.project_id == job.project.id,
                    r.c.id == recipient.id,
                    r.c.state == ("sending" if claimed else "queued"),
                )
                .values(**values)
            )

    def _requeue(self, job: _Job, ids: list[int], error: str) -> None:
        """Claimed recipients the channel never took: back to the queue (their attempt counts)."""
        r = campaign_recipients
        with self.engine.begin() as conn:
            conn.execute(
                r.update()
                .where(
                    r.c.project_id == job.project.id,
                    r.c.id.in_(ids),
                    r.c.state == "sending",
                    r.c.leased_by == self.name,
                )
                .values(state="queued", leased_until=None, last_error=error[:1000])
            )

    def _pace(self, rate_per_minute: int) -> None:
        interval = 60.0 / rate_per_minute
        wait = self._next_slot - self.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._next_slot = max(self.monotonic(), self._next_slot) + interval

    def _render(self, job: _Job, recipient: Any, context: dict[str, Any] | None) -> Message:
        links = job.links(recipient.id)
        return messages.render_for(
            messages.Draft.of(job.campaign), context or {"lead": {}, "account": None}, links
        )

    # -- email ------------------------------------------------------------------------------------

    def _deliver_email(self, run: CampaignRunRow, job: _Job, due: list[Any]) -> int:
        with self.engine.connect() as conn:
            contexts = messages.lead_contexts(conn, job.project, (x.lead_id for x in due))
        done = 0
        renew_at = self.monotonic() + self.lease.total_seconds() / 2
        with self._smtp(job.settings) as smtp:
            # Not the channel's fault, so not ChannelDown: the run gives up after a few tries.
            sender = _smtp_address(job.settings.from_email or "", smtp, "the sender address")
            for recipient in due:
                self._pace(job.settings.rate_per_minute)
                context = contexts.get(recipient.lead_id)
                done += self._send_one(smtp, sender, run, job, recipient, context)
                if self.monotonic() > renew_at:
                    self._renew(run)
                    renew_at = self.monotonic() + self.lease.total_seconds() / 2
        return done

    def _send_one(
        self,
        smtp: smtplib.SMTP,
        sender: str,
        run: CampaignRunRow,
        job: _Job,
        recipient: Any,
        context: dict[str, Any] | None,
    ) -> int:
        try:
            to = _smtp_address(recipient.email, smtp, "the address")
            message = self._render(job, recipient, context)
        except Undeliverable as exc:
            self._settle_failure(job, recipient, str(exc), permanent=True, claimed=False)
            return 1
        except RenderError as exc:
            self._settle_failure(
                job, recipient, f"template: {exc.path}: {exc}", permanent=True, claimed=False
            )
            return 1
        mail = messages.email_for(
            message,
            job.settings,
            to,
            recipient.id,
            job.campaign.id,
            job.links(recipient.id),
            self.clock.now(),
        )
        utf8 = not (sender.isascii() and to.isascii())  # only then: RFC 6531 asks for no more
        reply: bytes | str
        try:
            code, reply = smtp.mail(sender, ["SMTPUTF8"] if utf8 else [])
            if code >= 400:
                raise ChannelDown(f"SMTP MAIL FROM refused: {code} {_text(reply)}")
            code, reply = smtp.rcpt(to)
            if code == 421:  # the server is closing the connection: not this recipient's fault
                raise ChannelDown(f"SMTP {code} {_text(reply)}")
            if code >= 400:
                smtp.rset()
                error = f"SMTP {code} {_text(reply)}"
                self._settle_failure(job, recipient, error, permanent=code >= 500, claimed=False)
                return 1
            if recipient.id not in self._claim(job, [recipient.id]):
                smtp.rset()  # another sender has it
                return 0
            try:
                code, reply = smtp.data(messages.wire_bytes(mail, utf8))
            except smtplib.SMTPDataError as exc:
                code, reply = exc.smtp_code, exc.smtp_error
        except (smtplib.SMTPException, OSError) as exc:
            self._requeue(job, [recipient.id], f"{type(exc).__name__}: {exc}")
            raise ChannelDown(f"SMTP: {type(exc).__name__}: {exc}") from exc
        if code == 421:
            self._requeue(job, [recipient.id], f"SMTP {code} {_text(reply)}")
            raise ChannelDown(f"SMTP {code} {_text(reply)}")
        if code == 250:
            self._mark_sent(job, [_Sent(recipient.id, recipient.lead_id, run.id)], tracking.SENT)
            return 1
        error = f"SMTP {code} {_text(reply)}"
        self._settle_failure(job, recipient, error, permanent=code >= 500, claimed=True)
        return 1

    @contextmanager
    def _smtp(self, settings: MailSettings) -> Iterator[smtplib.SMTP]:
        host, port = settings.host or "", settings.port
        smtp: smtplib.SMTP | None = None
        try:
            if settings.security == "tls":
                context = ssl.create_default_context()
                smtp = smtplib.SMTP_SSL(host, port, timeout=self.smtp_timeout, context=context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=self.smtp_timeout)
            smtp.ehlo()
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password or "")
        except (smtplib.SMTPException, OSError) as exc:
            if smtp is not None:
                smtp.close()
            what = f"{type(exc).__name__}: {exc}"
            raise ChannelDown(f"cannot use SMTP server {host}:{port}: {what}") from exc
        try:
            yield smtp
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    # -- webhook ----------------------------------------------------------------------------------

    def _deliver_webhook(self, run: CampaignRunRow, job: _Job, due: list[Any]) -> int:
        with self.engine.connect() as conn:
            contexts = messages.lead_contexts(conn, job.project, (x.lead_id for x in due))
        entries, rendered = [], []
        for recipient in due:
            context = contexts.get(recipient.lead_id)
            try:
                message = self._render(job, recipient, context)
            except RenderError as exc:
                self._settle_failure(
                    job, recipient, f"template: {exc.path}: {exc}", permanent=True, claimed=False
                )
                continue
            rendered.append(recipient)
            entries.append(_webhook_entry(recipient, context, message))
        claimed = self._claim(job, [x.id for x in rendered])
        entries = [e for e in entries if e["recipient_id"] in claimed]
        batch = [x for x in rendered if x.id in claimed]
        if not batch:
            return len(due) - len(rendered)
        body = json.dumps(
            {
                "campaign": {"id": job.campaign.id, "name": job.campaign.name},
                "run_id": run.id,
                "project_id": job.project.id,
                "sent_at": _iso(self.clock.now()),
                "recipients": entries,
            },
            separators=(",", ":"),
            default=str,
        ).encode()
        error = self._post(job, body)
        if error is not None:
            for recipient in batch:
                if recipient.attempts + 1 >= self.max_attempts:
                    self._settle_failure(job, recipient, error, permanent=True, claimed=True)
            self._requeue(job, [x.id for x in batch], error)
            raise ChannelDown(error)
        self._mark_sent(job, [_Sent(x.id, x.lead_id, run.id) for x in batch], tracking.WEBHOOK_SENT)
        return len(due)

    def _post(self, job: _Job, body: bytes) -> str | None:
        if self._http is None:
            self._http = outbound.client(timeout=10.0)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Segmint-Campaigns/{__version__}",
            "X-Segmint-Campaign-Id": str(job.campaign.id),
            SIGNATURE_HEADER: sign(job.campaign.webhook_secret, body),
        }
        try:
            response = self._http.post(job.campaign.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"webhook: {type(exc).__name__}: {exc}"
        if response.is_success:
            return None
        # The status alone: a body could carry what an internal service answered to us.
        return f"webhook: HTTP {response.status_code}"


def run_campaigns_due(engine: Engine, clock: Clock = SYSTEM_CLOCK) -> int:
    """Create the runs that are due, decide the triggered sends that are due, and deliver what
    can be delivered now (`worker --once`)."""
    runs.schedule_due(engine, clock.now())
    triggers.release_due(engine, clock.now())
    sender = Sender(engine, clock)
    try:
        return sender.drain()
    finally:
        sender.close()


@dataclass(frozen=True)
class _Sent:
    id: int
    lead_id: int
    run_id: int


@dataclass(frozen=True)
class _Job:
    """What a delivery step needs of its run's campaign and project."""

    project: Project
    campaign: Any
    settings: MailSettings
    secret: str

    def links(self, recipient_id: int) -> tracking.Links | None:
        if not self.settings.public_url:
            return None
        return tracking.Links(self.settings.public_url, self.project.id, recipient_id, self.secret)


def _webhook_entry(recipient: Any, context: dict[str, Any] | None, message: Any) -> dict[str, Any]:
    lead = (context or {}).get("lead") or {}
    public = {
        name: lead.get(name)
        for name in ("id", "email", "first_name", "last_name", "company", "phone")
    }
    return {
        "recipient_id": recipient.id,
        "idempotency_key": f"rcpt_{recipient.id}",
        "lead": public,
        "subject": message.subject,
        "html": message.html,
        "text": message.text,
    }


def _smtp_address(address: str, smtp: smtplib.SMTP, what: str) -> str:
    """The address as this server can take it: as it is with SMTPUTF8, else ASCII with the
    domain in its IDNA form; a non-ASCII mailbox name has no ASCII form."""
    if address.isascii() or smtp.has_extn("smtputf8"):
        return address
    mailbox, _, domain = address.rpartition("@")
    if not mailbox.isascii():
        raise Undeliverable(
            f"{what} has non-ASCII characters before the @ and the SMTP server does not offer "
            "SMTPUTF8"
        )
    try:
        return f"{mailbox}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        raise Undeliverable(f"{what}: the domain {domain!r} has no ASCII (IDNA) form") from None


def _fail_unsent(conn: sa.Connection, run: CampaignRunRow, error: str) -> None:
    """The recipients of a run given up: queued ones failed (a later run may send them), those
    in flight unconfirmed (their message may have gone out)."""
    r = campaign_recipients
    of_run = sa.and_(r.c.project_id == run.project_id, r.c.run_id == run.id)
    conn.execute(
        r.update()
        .where(of_run, r.c.state == "queued")
        .values(state="failed", last_error=error[:1000], next_attempt_at=None)
    )
    conn.execute(
        r.update()
        .where(of_run, r.c.state == "sending")
        .values(state="unconfirmed", last_error=error[:1000], leased_until=None)
    )


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")
