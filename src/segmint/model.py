"""The domain vocabulary shared by storage, ingestion, filters and the API.

One place names every lead column and its kind, so that the importer, the filter field registry
and the API schemas cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class FieldKind(StrEnum):
    """How a value is stored, coerced and compared."""

    TEXT = "text"
    EMAIL = "email"
    NUMBER = "number"
    DATETIME = "datetime"
    DATE = "date"
    BOOLEAN = "boolean"
    SELECT = "select"
    TAGS = "tags"  # a list of text
    JSON = "json"  # an untyped object (enrichment)


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


PHONE_TYPES: Final = ("mobile", "landline", "unknown")
DEFAULT_STATUSES: Final = ("new", "contacted", "replied", "qualified", "lost")
DEFAULT_CONVERTED_STATUS: Final = "qualified"
DEFAULT_SOURCES: Final = ("apollo_search", "manual_import", "api_integration")
CUSTOM_FIELD_TYPES: Final = ("text", "number", "date", "boolean", "select")

# Lead columns a user (CSV import, API) may write, with their kind. `status` is validated against
# the project's own vocabulary; `phone_type` against PHONE_TYPES.
LEAD_WRITABLE: Final[dict[str, FieldKind]] = {
    "email": FieldKind.EMAIL,
    "first_name": FieldKind.TEXT,
    "last_name": FieldKind.TEXT,
    "phone": FieldKind.TEXT,
    "phone_type": FieldKind.SELECT,
    "company": FieldKind.TEXT,
    "job_title": FieldKind.TEXT,
    "status": FieldKind.SELECT,
    "source": FieldKind.TEXT,
    "owner": FieldKind.EMAIL,
    "tags": FieldKind.TAGS,
    "country": FieldKind.TEXT,
    "language": FieldKind.TEXT,
    "priority": FieldKind.TEXT,
    "group_name": FieldKind.TEXT,
    "engagement_score": FieldKind.NUMBER,
    "max_score": FieldKind.NUMBER,
    "engagement_level": FieldKind.TEXT,
    "profile_level": FieldKind.TEXT,
    "account_id": FieldKind.NUMBER,
    "created_at": FieldKind.DATETIME,
    "last_contacted_at": FieldKind.DATETIME,
    "last_activity_at": FieldKind.DATETIME,
}

# Columns the system maintains; readable (and filterable) but never written by users directly.
LEAD_SYSTEM: Final[dict[str, FieldKind]] = {
    "id": FieldKind.NUMBER,
    "updated_at": FieldKind.DATETIME,
}

LEAD_COLUMNS: Final[dict[str, FieldKind]] = {**LEAD_SYSTEM, **LEAD_WRITABLE}

TEXT_MAX: Final = 1000  # longest accepted text value in a lead column
TAG_MAX: Final = 100
