"""Leads: built from model.py's column list, so a column added there reaches the API's
schemas (and OpenAPI) with no second list to keep in step."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from segmint.api.schemas.common import BULK_MAX, Strict
from segmint.engine.paging import MAX_PER_PAGE
from segmint.ingest.batches import RowError
from segmint.model import LEAD_COLUMNS, LEAD_WRITABLE, PHONE_TYPES, FieldKind
from segmint.store.tables import leads

KIND_TYPES: dict[FieldKind, Any] = {
    FieldKind.TEXT: str,
    FieldKind.EMAIL: str,
    FieldKind.NUMBER: float,
    FieldKind.DATETIME: datetime,
    FieldKind.DATE: date,
    FieldKind.BOOLEAN: bool,
    FieldKind.SELECT: str,
    FieldKind.TAGS: list[str],
    FieldKind.JSON: dict[str, Any],
}

# What a lead carries besides model.py's columns: `name` (first and last name; split when
# written, joined when read) and its two objects.
EXTRA_FIELDS: dict[str, FieldKind] = {
    "name": FieldKind.TEXT,
    "custom": FieldKind.JSON,
    "enrichment": FieldKind.JSON,
}

FIELD_DOCS: dict[str, dict[str, Any]] = {
    "email": {"examples": ["ada@example.com"]},
    "name": {"description": "Split into first and last name when those are absent."},
    "status": {"description": "One of the project's statuses.", "examples": ["new"]},
    "source": {"examples": ["apollo_search"]},
    "owner": {"description": "Email of the user the lead is assigned to."},
    "custom": {"description": "Keys declared as custom fields."},
}

LEAD_EXAMPLE: dict[str, Any] = {
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines",
    "job_title": "CTO",
    "status": "new",
    "tags": ["vip"],
    "enrichment": {"company": {"size": 120, "industry": "SaaS"}},
}


def python_type(name: str, kind: FieldKind) -> Any:
    """The type a lead field has in JSON: ids are whole numbers, other numbers need not be."""
    if kind is FieldKind.NUMBER and (name == "id" or name.endswith("_id")):
        return int
    return KIND_TYPES[kind]


def input_fields() -> dict[str, Any]:
    """Every writable field, optional: a create sends what it knows, an update what changes
    (an explicit null clears a field)."""
    fields: dict[str, Any] = {}
    for name, kind in {**LEAD_WRITABLE, **EXTRA_FIELDS}.items():
        # The API refuses an unknown phone type before the engine does (it is in OpenAPI).
        value_type = Literal[PHONE_TYPES] if name == "phone_type" else python_type(name, kind)
        fields[name] = (value_type | None, Field(None, **FIELD_DOCS.get(name, {})))
    return fields


def public_fields() -> dict[str, Any]:
    """Every field, always present; null where the column may be null."""
    fields: dict[str, Any] = {}
    for name, kind in {**LEAD_COLUMNS, **EXTRA_FIELDS}.items():
        value_type = python_type(name, kind)
        nullable = name == "name" or leads.c[name].nullable
        fields[name] = (value_type | None if nullable else value_type, ...)
    return fields


class _LeadCreateBase(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [LEAD_EXAMPLE]})


if TYPE_CHECKING:
    # To the type checker these are plain bodies (the routes only dump or validate them):
    # their fields are built below, from model.py, where mypy cannot follow.
    class LeadCreate(Strict): ...

    class LeadUpdate(Strict): ...

    class LeadPublic(BaseModel): ...

else:
    LeadCreate = create_model(
        "LeadCreate", __base__=_LeadCreateBase, __module__=__name__, **input_fields()
    )
    LeadUpdate = create_model(
        "LeadUpdate",
        __base__=Strict,
        __module__=__name__,
        __doc__="Only the fields sent change; an explicit null clears a field.",
        **input_fields(),
    )
    LeadPublic = create_model(
        "LeadPublic", __base__=BaseModel, __module__=__name__, **public_fields()
    )


class LeadPage(BaseModel):
    items: list[LeadPublic]
    total: int
    page: int
    per_page: int = Field(le=MAX_PER_PAGE)
    frozen: bool = Field(
        default=False, description="True for an inactive segment: its kept, unchanging members."
    )


class LeadBulkIn(Strict):
    leads: list[dict[str, Any]] = Field(
        max_length=BULK_MAX,
        description="Lead objects (the fields of LeadCreate); each is validated on its own.",
        examples=[[{"email": "ada@example.com", "status": "new"}, {"email": "bad"}]],
    )
    on_conflict: Literal["update", "skip"] = "update"
    per_row_fields = ("leads",)


class RowErrorPublic(BaseModel):
    index: int
    message: str


def row_errors(errors: list[RowError]) -> list[RowErrorPublic]:
    """Errors in request order (validation errors come before write errors otherwise)."""
    ordered = sorted(errors, key=lambda e: e.location)
    return [RowErrorPublic(index=e.location, message=e.message) for e in ordered]


class LeadBulkResult(BaseModel):
    created: int
    updated: int
    skipped: int
    errors: list[RowErrorPublic]
    warnings: list[str] = Field(
        default_factory=list,
        description="About rows that were written, but not as given (an owner who is not a user).",
    )


class ScorePointPublic(BaseModel):
    at: datetime
    score: float


class ScorePointList(BaseModel):
    items: list[ScorePointPublic]


# -- CSV import ----------------------------------------------------------------------------------


class ColumnGuess(BaseModel):
    name: str
    target: str | None
    samples: list[str] = Field(
        default_factory=list, description="up to 3 distinct non-empty values from the first rows"
    )


class ImportTargetOption(BaseModel):
    value: str
    label: str
    group: Literal["Standard", "Enrichment", "Custom"]


class ImportProblem(BaseModel):
    line: int
    level: Literal["error", "warning"]
    message: str


class ImportColumns(BaseModel):
    columns: list[ColumnGuess]
    targets: list[str]
    target_options: list[ImportTargetOption] = Field(
        description="targets with labels and groups; any enrichment.PATH is accepted too"
    )
    problems: list[ImportProblem] = Field(
        description="what the import would report on the checked lines, by line"
    )
    encoding: str
