"""SQLAlchemy Core tables: the shape every query is written against.

Migrations (store/migrations) create exactly these tables; tests assert that the migrated schema
and this metadata agree. Every tenant table carries `project_id` and every index starts with it,
so the schema can be distributed by project (Citus) with no query changes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A 64-bit key on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY (also 64-bit).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# JSONB on PostgreSQL (GIN-indexable, containment operators); JSON1 text on SQLite.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class Timestamp(sa.types.TypeDecorator[datetime]):
    """A moment, always read back as an aware UTC datetime: SQLite stores no offset and
    returned naive values, which the API then printed without one (not RFC 3339)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


def _id() -> sa.Column[int]:
    # Never reused on either database: PostgreSQL's sequences, and on SQLite AUTOINCREMENT for
    # every table whose ids are referred to (migration 0014).
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _project_id() -> sa.Column[int]:
    return sa.Column(
        "project_id", BigId, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )


organizations = sa.Table(
    "organizations",
    metadata,
    _id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column(
        "organization_id",
        BigId,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Stored lower-cased; unique within the organization only, so that adding a user never
    # tells one organization which emails another has (migration 0013).
    sa.Column("email", sa.String(320), nullable=False, index=True),
    sa.Column("name", sa.String(255)),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255)),  # argon2id; null until a password is set
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_login_at", Timestamp),
    # Set when the user was removed: kept, since segments, campaigns and history name them.
    sa.Column("removed_at", Timestamp),
    sa.CheckConstraint("role in ('owner', 'admin', 'member')", name="ck_users_role"),
    sa.UniqueConstraint("organization_id", "email"),
)

projects = sa.Table(
    "projects",
    metadata,
    _id(),
    sa.Column(
        "organization_id",
        BigId,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("slug", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("statuses", Json, nullable=False),  # ordered vocabulary of lead statuses
    sa.Column("converted_status", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("organization_id", "slug"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    _id(),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # Null: every project of the user's organization; else only this one.
    sa.Column("project_id", BigId, sa.ForeignKey("projects.id", ondelete="CASCADE")),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False, unique=True),  # shown in listings
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_used_at", Timestamp),
    sa.Column("revoked_at", Timestamp),
)

# A browser's log-in: the cookie holds a random value, the table only its SHA-256.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    _id(),
    sa.Column(
        "user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_seen_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
)

accounts = sa.Table(
    "accounts",
    metadata,
    _id(),
    _project_id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("domain", sa.String(255)),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("engagement_level", sa.String(64)),
    sa.Column("profile_level", sa.String(64)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("project_id", "id"),
    sa.Index(None, "project_id", "domain"),
    sa.Index(None, "project_id", "name"),
)

leads = sa.Table(
    "leads",
    metadata,
    _id(),
    _project_id(),
    sa.Column("email", sa.String(320)),  # trimmed and lower-cased: unique per project
    sa.Column("first_name", sa.String(1000)),
    sa.Column("last_name", sa.String(1000)),
    sa.Column("phone", sa.String(1000)),
    sa.Column("phone_type", sa.String(16)),
    sa.Column("company", sa.String(1000)),
    sa.Column("job_title", sa.String(1000)),
    sa.Column("status", sa.String(64)),
    sa.Column("source", sa.String(1000)),
    sa.Column("owner", sa.String(320)),
    sa.Column("tags", Json, nullable=False),
    sa.Column("country", sa.String(1000)),
    sa.Column("language", sa.String(1000)),
    sa.Column("priority", sa.String(1000)),
    sa.Column("group_name", sa.String(1000)),
    sa.Column("engagement_score", sa.Float, nullable=False, server_default="0"),
    sa.Column("max_score", sa.Float, nullable=False, server_default="0"),
    sa.Column("engagement_level", sa.String(64)),
    sa.Column("profile_level", sa.String(64)),
    sa.Column("custom", Json, nullable=False),
    sa.Column("enrichment", Json),
    sa.Column("account_id", BigId),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("last_contacted_at", Timestamp),
    sa.Column("last_activity_at", Timestamp),
    sa.UniqueConstraint("project_id", "id"),
    sa.UniqueConstraint("project_id", "email"),
    sa.ForeignKeyConstraint(
        ["project_id", "account_id"],
        ["accounts.project_id", "accounts.id"],
        name="fk_leads_account",
    ),
    # Keyset paging and "created in the last N days". Filters compare folded text, so the indexes
    # that serve them are expressions, on PostgreSQL only: see migration 0006.
    sa.Index(None, "project_id", "created_at", "id"),
    sa.Index(None, "project_id", "account_id"),
    sa.Index(None, "project_id", "last_activity_at"),
)

events = sa.Table(
    "events",
    metadata,
    _id(),
    _project_id(),
    sa.Column("lead_id", BigId, nullable=False),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("occurred_at", Timestamp, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.ForeignKeyConstraint(
        ["project_id", "lead_id"],
        ["leads.project_id", "leads.id"],
        name="fk_events_lead",
        ondelete="CASCADE",
    ),
    # A lead's events of a type in a time window (event conditions, timelines).
    sa.Index(None, "project_id", "lead_id", "type", "occurred_at"),
    # All leads with an event of a type in a window (event conditions evaluated set-wise).
    sa.Index(None, "project_id", "type", "occurred_at", "lead_id"),
)

# Per lead and event type: how many events, first and last. Kept exact by triggers on `events`
# (migration 0008), so counted conditions with no window need not aggregate the events.
lead_event_counts = sa.Table(
    "lead_event_counts",
    metadata,
    _project_id(),
    sa.Column("lead_id", BigId, nullable=False),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("first_at", Timestamp, nullable=False),
    sa.Column("last_at", Timestamp, nullable=False),
    sa.PrimaryKeyConstraint("project_id", "lead_id", "type"),
    sa.ForeignKeyConstraint(
        ["project_id", "lead_id"],
        ["leads.project_id", "leads.id"],
        name="fk_lead_event_counts_lead",
        ondelete="CASCADE",
    ),
    sa.Index(None, "project_id", "type", "total", "lead_id"),
)

custom_fields = sa.Table(
    "custom_fields",
    metadata,
    _id(),
    _project_id(),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("label", sa.String(255), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("options", Json, nullable=False),  # allowed values of a `select` field
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("project_id", "key"),
    sa.CheckConstraint(
        "type in ('text', 'number', 'date', 'boolean', 'select')", name="ck_custom_fields_type"
    ),
)


segments = sa.Table(
    "segments",
    metadata,
    _id(),
    _project_id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("color", sa.String(7), nullable=False, server_default="#4f46e5"),
    sa.Column("filter", Json, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_by", BigId, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("last_evaluated_at", Timestamp),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # Membership is known correct at this moment: time-based changes are swept from here on.
    sa.Column("time_synced_at", Timestamp),
    # Whose segment it is: "leads" or "accounts" (migration 0021), fixed at creation.
    sa.Column("audience", sa.String(16), nullable=False, server_default="leads"),
    sa.UniqueConstraint("project_id", "id"),
    sa.Index(None, "project_id", "created_by"),
)

# Tags organise segments: any number per segment, free text, one spelling per project (the
# first one used; later ones differing only in case reuse it). The list is filtered by them.
segment_tags = sa.Table(
    "segment_tags",
    metadata,
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("segment_id", BigId, nullable=False),
    sa.Column("tag", sa.String(50), nullable=False),
    sa.PrimaryKeyConstraint("project_id", "segment_id", "tag"),
    sa.ForeignKeyConstraint(
        ["project_id", "segment_id"],
        ["segments.project_id", "segments.id"],
        name="fk_segment_tags_segment",
        ondelete="CASCADE",
    ),
    sa.Index(None, "project_id", "tag"),
)

# Every saved version of a segment's definition (name, description, filter), who saved it and
# when; `number` counts them per segment (1, 2, ...), while the segment's `version` (here
# `filter_version`) counts only filter changes, as membership history names them.
segment_versions = sa.Table(
    "segment_versions",
    metadata,
    _id(),
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("segment_id", BigId, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("filter_version", sa.Integer, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("filter", Json, nullable=False),
    sa.Column("restored_from", sa.Integer),  # the number of the version this one restored
    sa.Column("created_by", BigId, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("project_id", "segment_id", "number"),
    sa.ForeignKeyConstraint(
        ["project_id", "segment_id"],
        ["segments.project_id", "segments.id"],
        name="fk_segment_versions_segment",
        ondelete="CASCADE",
    ),
)

lists = sa.Table(
    "lists",
    metadata,
    _id(),
    _project_id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("filter", Json),  # applied only on refresh
    sa.Column("source_segment_id", BigId),
    sa.Column("created_by", BigId, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("project_id", "id"),
)

list_members = sa.Table(
    "list_members",
    metadata,
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("list_id", BigId, nullable=False),
    sa.Column("lead_id", BigId, nullable=False),
    sa.Column("added_at", Timestamp, nullable=False),
    sa.PrimaryKeyConstraint("project_id", "list_id", "lead_id"),
    sa.ForeignKeyConstraint(
        ["project_id", "list_id"],
        ["lists.project_id", "lists.id"],
        name="fk_list_members_list",
        ondelete="CASCADE",
    ),
    sa.ForeignKeyConstraint(
        ["project_id", "lead_id"],
        ["leads.project_id", "leads.id"],
        name="fk_list_members_lead",
        ondelete="CASCADE",
    ),
    # "Which lists is this lead in" and in_list conditions probed per lead.
    sa.Index(None, "project_id", "lead_id"),
)


# -- membership (active segments) -----------------------------------------------------------------

segment_members = sa.Table(
    "segment_members",
    metadata,
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("segment_id", BigId, nullable=False),
    sa.Column("lead_id", BigId, nullable=False),
    sa.Column("entered_at", Timestamp, nullable=False),
    sa.PrimaryKeyConstraint("project_id", "segment_id", "lead_id"),
    sa.ForeignKeyConstraint(
        ["project_id", "segment_id"],
        ["segments.project_id", "segments.id"],
        name="fk_segment_members_segment",
        ondelete="CASCADE",
    ),
    sa.ForeignKeyConstraint(
        ["project_id", "lead_id"],
        ["leads.project_id", "leads.id"],
        name="fk_segment_members_lead",
        ondelete="CASCADE",
    ),
    sa.Index(None, "project_id", "lead_id"),
)

# Leads included in or excluded from a segment by hand (migration 0018): members are
# `(filter or included) and not excluded`. One row per segment and lead, so never both.
manual_members = sa.Table(
    "manual_members",
    metadata,
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("segment_id", BigId, nullable=False),
    sa.Column("lead_id", BigId, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("added_at", Timestamp, nullable=False),
    sa.PrimaryKeyConstraint("project_id", "segment_id", "lead_id"),
    sa.ForeignKeyConstraint(
        ["project_id", "segment_id"],
        ["segments.project_id", "segments.id"],
        name="fk_manual_members_segment",
        ondelete="CASCADE",
    ),
    sa.ForeignKeyConstraint(
        ["project_id", "lead_id"],
        ["leads.project_id", "leads.id"],
        name="fk_manual_members_lead",
        ondelete="CASCADE",
    ),
    sa.CheckConstraint("kind in ('include', 'exclude')", name="ck_manual_members_kind"),
    sa.Index(None, "project_id", "lead_id"),
    # A segment's includes or excludes, in lead id order: subqueries and the paged listing.
    sa.Index(None, "project_id", "segment_id", "kind", "lead_id"),
)

# Append-only: who entered or left which segment, when, under which version, and why.
membership_history = sa.Table(
    "membership_history",
    metadata,
    _id(),
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("segment_id", BigId, nullable=False),
    sa.Column("lead_id", BigId, nullable=False),
    sa.Column("change", sa.String(8), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("segment_version", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("detail", sa.String(255)),
    sa.CheckConstraint("change in ('entered', 'exited')", name="ck_membership_history_change"),
    sa.Index(None, "project_id", "segment_id", "at", "id"),
    sa.Index(None, "project_id", "lead_id", "at"),
)

# Account segments' maintained membership and its history (migration 0023): the same shape as
# segment_members / membership_history, keyed by account. Separate tables, not a nullable
# lead_id beside an account_id: every key and index stays (project_id, segment_id, member) and
# each table's foreign key names what its member is.
account_segment_members = sa.Table(
    "account_segment_members",
    metadata,
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("segment_id", BigId, nullable=False),
    sa.Column("account_id", BigId, nullable=False),
    sa.Column("entered_at", Timestamp, nullable=False),
    sa.PrimaryKeyConstraint("project_id", "segment_id", "account_id"),
    sa.ForeignKeyConstraint(
        ["project_id", "segment_id"],
        ["segments.project_id", "segments.id"],
        name="fk_account_segment_members_segment",
        ondelete="CASCADE",
    ),
    sa.ForeignKeyConstraint(
        ["project_id", "account_id"],
        ["accounts.project_id", "accounts.id"],
        name="fk_account_segment_members_account",
        ondelete="CASCADE",
    ),
    sa.Index(None, "project_id", "account_id"),
)

account_membership_history = sa.Table(
    "account_membership_history",
    metadata,
    _id(),
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("segment_id", BigId, nullable=False),
    sa.Column("account_id", BigId, nullable=False),
    sa.Column("change", sa.String(8), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("segment_version", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("detail", sa.String(255)),
    sa.CheckConstraint(
        "change in ('entered', 'exited')", name="ck_account_membership_history_change"
    ),
    sa.Index(None, "project_id", "segment_id", "at", "id"),
    sa.Index(None, "project_id", "account_id", "at"),
)

# The outbox: what a write causes, recorded in the write's own transaction, done by workers.
work_items = sa.Table(
    "work_items",
    metadata,
    _id(),
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("payload", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_until", Timestamp),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(1000)),
    sa.Index(None, "project_id", "id"),
)

# The columnar index's change feed: what was written or deleted, by whom (`xid`: the writing
# transaction on PostgreSQL), filled by triggers (migration 0015) and read by index/feed.py.
# No foreign key to projects: a deleted project's last changes must still be readable.
index_changes = sa.Table(
    "index_changes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("object_id", BigId, nullable=False),
    sa.Column("container_id", BigId),
    sa.Column("xid", sa.BigInteger),
    sa.Column("recorded_at", Timestamp, nullable=False, server_default=sa.func.current_timestamp()),
    sa.Index(None, "project_id", "xid"),
    sa.Index(None, "project_id", "id"),
    sa.Index(None, "project_id", "recorded_at"),
    sqlite_autoincrement=True,
)

# -- webhooks ------------------------------------------------------------------------------------

# Subscriptions to membership changes. The secret signs deliveries, so it is kept as it is (a
# hash could not sign); the delivery state (consecutive failures, next attempt, lease) lives here
# because a failing receiver backs off as a whole, in order.
webhooks = sa.Table(
    "webhooks",
    metadata,
    _id(),
    _project_id(),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("events", Json, nullable=False),  # ["segment.entered", "segment.exited"]
    sa.Column("segment_id", BigId),  # null: every segment of the project
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_by", BigId, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp),  # backing off until then
    sa.Column("leased_by", sa.String(64)),
    sa.Column("leased_until", Timestamp),
    sa.UniqueConstraint("project_id", "id"),
    sa.ForeignKeyConstraint(
        ["project_id", "segment_id"],
        ["segments.project_id", "segments.id"],
        name="fk_webhooks_segment",
        ondelete="CASCADE",
    ),
)

# One row per (webhook, history row) not yet acknowledged by the receiver: written in the same
# transaction as the history row, deleted when a delivery of it succeeds.
webhook_queue = sa.Table(
    "webhook_queue",
    metadata,
    _id(),
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("webhook_id", BigId, nullable=False),
    sa.Column("history_id", BigId, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # Which history `history_id` is a row of: membership_history ('leads') or
    # account_membership_history ('accounts'); the two number their rows independently.
    sa.Column("audience", sa.String(16), nullable=False, server_default="leads"),
    sa.ForeignKeyConstraint(
        ["project_id", "webhook_id"],
        ["webhooks.project_id", "webhooks.id"],
        name="fk_webhook_queue_webhook",
        ondelete="CASCADE",
    ),
    sa.Index(None, "project_id", "webhook_id", "id"),
)

# The delivery log: one row per POST, whatever came of it.
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    _id(),
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("webhook_id", BigId, nullable=False),
    sa.Column("attempted_at", Timestamp, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.String(1000)),
    # The changes the batch carried: rows of membership_history, and of
    # account_membership_history (the two number their rows apart)
    sa.Column("history_ids", Json, nullable=False),
    sa.Column("account_history_ids", Json, nullable=False, server_default=sa.text("'[]'")),
    sa.ForeignKeyConstraint(
        ["project_id", "webhook_id"],
        ["webhooks.project_id", "webhooks.id"],
        name="fk_webhook_attempts_webhook",
        ondelete="CASCADE",
    ),
    sa.Index(None, "project_id", "webhook_id", "id"),
)

# Engagement scoring (engine/scoring.py): points per event type, with an optional `where` over
# the event's metadata (filter language), a cap per rule and a decay.
scoring_rules = sa.Table(
    "scoring_rules",
    metadata,
    _id(),
    _project_id(),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("points", sa.Float, nullable=False),
    sa.Column("where", Json),
    sa.Column("cap", sa.Float),  # at most this many points from the rule per lead
    sa.Column("decay", sa.String(8), nullable=False, server_default="none"),
    sa.Column("decay_days", sa.Integer),  # halve: the half-life; expire: the lifetime
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("decay in ('none', 'halve', 'expire')", name="ck_scoring_rules_decay"),
    sa.Index(None, "project_id", "event_type"),
)

scoring_settings = sa.Table(
    "scoring_settings",
    metadata,
    sa.Column(
        "project_id",
        BigId,
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("engagement_levels", Json, nullable=False),  # [{"name", "min"}], lowest first
    sa.Column("swept_at", Timestamp),  # the last time decaying scores were brought up to date
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("fit_levels", Json),  # [{"name", "min"}]; null: the defaults
    # An account's scores from its leads': the highest ("max") or their total ("sum").
    sa.Column("account_rollup", sa.String(8), nullable=False, server_default="max"),
)

# Profile fit (engine/fit.py): a filter over lead and account fields earns its points.
fit_rules = sa.Table(
    "fit_rules",
    metadata,
    _id(),
    _project_id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("filter", Json, nullable=False),
    sa.Column("points", sa.Float, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index(None, "project_id"),
)

# A lead's score each time it changed (rounded points), for the lead page.
score_history = sa.Table(
    "score_history",
    metadata,
    _id(),
    _project_id(),
    sa.Column("lead_id", BigId, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.ForeignKeyConstraint(
        ["project_id", "lead_id"],
        ["leads.project_id", "leads.id"],
        name="fk_score_history_lead",
        ondelete="CASCADE",
    ),
    sa.Index(None, "project_id", "lead_id", "at"),
)

# -- campaigns ------------------------------------------------------------------------------------

mail_settings = sa.Table(
    "mail_settings",
    metadata,
    sa.Column(
        "project_id",
        BigId,
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("host", sa.String(255)),
    sa.Column("port", sa.Integer, nullable=False, server_default="587"),
    sa.Column("username", sa.String(255)),
    sa.Column("password", sa.String(255)),  # needed in clear to log in; never returned or logged
    sa.Column("security", sa.String(8), nullable=False, server_default="starttls"),
    sa.Column("from_email", sa.String(320)),
    sa.Column("from_name", sa.String(255)),
    sa.Column("reply_to", sa.String(320)),
    sa.Column("rate_per_minute", sa.Integer, nullable=False, server_default="600"),
    sa.Column("public_url", sa.String(2000)),  # where tracking links point
    sa.Column("tracking_secret", sa.String(128), nullable=False),  # signs tracking links
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("security in ('none', 'starttls', 'tls')", name="ck_mail_settings_security"),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    _id(),
    _project_id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("state", sa.String(16), nullable=False),  # draft | scheduled | paused | finished
    # Targeting: a union of segments and lists, minus excluded ones, narrowed by a filter.
    sa.Column("include_segments", Json, nullable=False),
    sa.Column("exclude_segments", Json, nullable=False),
    sa.Column("include_lists", Json, nullable=False),
    sa.Column("exclude_lists", Json, nullable=False),
    sa.Column("filter", Json),
    sa.Column("channel", sa.String(16), nullable=False),  # email | webhook
    sa.Column("subject", sa.Text, nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("webhook_url", sa.String(2000)),
    sa.Column("webhook_secret", sa.String(128)),
    sa.Column("schedule", sa.String(8), nullable=False),  # manual | once | cron
    sa.Column("send_at", Timestamp),
    sa.Column("cron", sa.String(120)),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("next_run_at", Timestamp),  # the next scheduled run, while scheduled
    sa.Column("resend", sa.String(16), nullable=False),  # never | every_run | after_days
    sa.Column("resend_after_days", sa.Integer),
    # Entries or exits of a segment that send this campaign (campaigns/triggers.py), or NULL.
    sa.Column("trigger", Json),
    sa.Column("created_by", BigId, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("project_id", "id"),
    sa.Index(None, "project_id", "state", "next_run_at"),
)

campaign_runs = sa.Table(
    "campaign_runs",
    metadata,
    _id(),
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("campaign_id", BigId, nullable=False),
    # One run per scheduled moment: two schedulers racing for it insert one row.
    sa.Column("scheduled_for", Timestamp, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # schedule | manual
    sa.Column("created_by", BigId, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | sending | done | error
    sa.Column("error", sa.String(1000)),
    sa.Column("frozen_at", Timestamp),  # when the audience was evaluated
    sa.Column("finished_at", Timestamp),
    sa.Column("audience", sa.Integer),  # leads targeted at frozen_at, before skips
    sa.Column("skipped_already_sent", sa.Integer),
    sa.Column("skipped_unsubscribed", sa.Integer),
    sa.Column("skipped_no_email", sa.Integer),
    sa.Column("skipped_capped", sa.Integer),  # a triggered run's: over the frequency cap
    sa.Column("skipped_membership", sa.Integer),  # a triggered run's: no longer (or still) in
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp),  # the channel is down: backing off until then
    sa.Column("leased_by", sa.String(64)),
    sa.Column("leased_until", Timestamp),
    sa.UniqueConstraint("project_id", "id"),
    sa.UniqueConstraint("project_id", "campaign_id", "scheduled_for"),
    sa.ForeignKeyConstraint(
        ["project_id", "campaign_id"],
        ["campaigns.project_id", "campaigns.id"],
        name="fk_campaign_runs_campaign",
        ondelete="CASCADE",
    ),
)

campaign_recipients = sa.Table(
    "campaign_recipients",
    metadata,
    _id(),
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("campaign_id", BigId, nullable=False),
    sa.Column("run_id", BigId, nullable=False),
    sa.Column("lead_id", BigId, nullable=False),  # no foreign key: the audit outlives the lead
    sa.Column("email", sa.String(320)),  # the address frozen with the run
    # queued | sending | sent | failed | unconfirmed (the sender stopped mid-transmission)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp),
    sa.Column("leased_by", sa.String(64)),
    sa.Column("leased_until", Timestamp),
    sa.Column("last_error", sa.String(1000)),
    sa.Column("sent_at", Timestamp),
    sa.ForeignKeyConstraint(
        ["project_id", "run_id"],
        ["campaign_runs.project_id", "campaign_runs.id"],
        name="fk_campaign_recipients_run",
        ondelete="CASCADE",
    ),
    sa.UniqueConstraint("project_id", "run_id", "lead_id"),
    sa.Index(None, "project_id", "run_id", "state", "id"),
    sa.Index(None, "project_id", "campaign_id", "lead_id", "state"),
)

# -- bulk actions ---------------------------------------------------------------------------------

# One action over many leads (set a status, add to a list, delete...), done by the worker in
# batches of leads in id order: `last_lead_id` is how far it got, so a restart goes on from there.
# The row is also the record of who did what.
bulk_actions = sa.Table(
    "bulk_actions",
    metadata,
    _id(),
    _project_id(),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("params", Json, nullable=False),
    sa.Column("selection", Json, nullable=False),  # lead ids, or a filter/segment/list and search
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),  # leads selected when it was asked for
    sa.Column("processed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("changed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_lead_id", BigId, nullable=False, server_default="0"),
    sa.Column("max_lead_id", BigId, nullable=False),  # leads created later are not selected
    sa.Column("error", sa.String(1000)),
    sa.Column("created_by", BigId, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_by_email", sa.String(320)),  # kept when the user is deleted
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.CheckConstraint(
        "state in ('queued', 'running', 'done', 'failed', 'cancelled')",
        name="ck_bulk_actions_state",
    ),
    sa.UniqueConstraint("project_id", "id"),
    sqlite_autoincrement=True,
)

# One pending send per membership change a campaign's trigger listens to, queued in the
# transaction that records the change: exactly one per entry or exit, decided once due.
campaign_trigger_sends = sa.Table(
    "campaign_trigger_sends",
    metadata,
    _id(),
    sa.Column("project_id", BigId, nullable=False),
    sa.Column("campaign_id", BigId, nullable=False),
    sa.Column("history_id", BigId, nullable=False),  # the membership_history row
    sa.Column("segment_id", BigId, nullable=False),
    sa.Column("lead_id", BigId, nullable=False),
    sa.Column("change", sa.String(8), nullable=False),  # entered | exited
    sa.Column("happened_at", Timestamp, nullable=False),
    sa.Column("due_at", Timestamp, nullable=False),  # happened_at + the trigger's delay
    sa.Column("state", sa.String(16), nullable=False),  # pending | queued | skipped
    sa.Column("skip_reason", sa.String(32)),
    sa.Column("run_id", BigId),  # the triggered run that decided it
    sa.Column("decided_at", Timestamp),
    sa.ForeignKeyConstraint(
        ["project_id", "campaign_id"],
        ["campaigns.project_id", "campaigns.id"],
        name="fk_campaign_trigger_sends_campaign",
        ondelete="CASCADE",
    ),
    sa.UniqueConstraint("project_id", "campaign_id", "history_id"),
    sa.CheckConstraint(
        "state in ('pending', 'queued', 'skipped')", name="ck_campaign_trigger_sends_state"
    ),
    sa.Index(None, "project_id", "state", "due_at"),
    sa.Index(None, "project_id", "campaign_id", "lead_id"),
    sqlite_autoincrement=True,
)

TENANT_TABLES = (
    accounts,
    leads,
    events,
    lead_event_counts,
    custom_fields,
    segments,
    segment_tags,
    segment_versions,
    lists,
    list_members,
    segment_members,
    manual_members,
    membership_history,
    webhooks,
    webhook_queue,
    webhook_attempts,
    scoring_rules,
    scoring_settings,
    score_history,
    fit_rules,
    mail_settings,
    campaigns,
    campaign_runs,
    campaign_recipients,
    campaign_trigger_sends,
    bulk_actions,
)
# work_items is the installation's queue, claimed across projects by workers: not a tenant table,
# though every item names its project.
