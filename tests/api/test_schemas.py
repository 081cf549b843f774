"""The API's schemas: all in segmint.api.schemas, named by one scheme, the lead schemas built
from model.py's column list (so they cannot drift from it)."""

from __future__ import annotations

import importlib
import pkgutil
import types
import typing
from collections.abc import Iterator

from fastapi.routing import APIRoute
from pydantic import BaseModel

from segmint.api import routes as api_routes
from segmint.api.schemas.common import Strict
from segmint.api.schemas.leads import LeadCreate, LeadPublic, LeadUpdate
from segmint.model import LEAD_COLUMNS, LEAD_WRITABLE
from segmint.store.tables import leads

LEAD_EXTRAS = {"name", "custom", "enrichment"}  # not columns of model.py


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names, and those their fields name, recursively."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models_in(field.annotation)
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def _api_models() -> set[type[BaseModel]]:
    """Every model a route of segmint.api.routes reads or answers."""
    found: set[type[BaseModel]] = set()
    for module in pkgutil.iter_modules(api_routes.__path__):
        router = importlib.import_module(f"{api_routes.__name__}.{module.name}").router
        routes = [r for r in router.routes if isinstance(r, APIRoute)]
        assert routes, module.name
        for route in routes:
            found.update(_models_in(route.response_model))
            for param in route.dependant.body_params:
                found.update(_models_in(param.field_info.annotation))
    return found


def test_every_api_model_lives_in_the_schemas_package() -> None:
    models = _api_models()
    assert LeadCreate in models and LeadPublic in models
    elsewhere = sorted(
        m.__name__ for m in models if not m.__module__.startswith("segmint.api.schemas.")
    )
    assert elsewhere == []


def test_api_models_follow_the_naming_scheme() -> None:
    for model in _api_models():
        name = model.__name__
        if issubclass(model, Strict):  # a request body
            assert name.endswith(("Create", "Update", "In")), name
        else:
            assert not name.endswith(("Create", "Update", "In", "Out")), name


def test_lead_bodies_have_exactly_the_writable_columns() -> None:
    for body in (LeadCreate, LeadUpdate):
        assert set(body.model_fields) == set(LEAD_WRITABLE) | LEAD_EXTRAS
        assert not any(field.is_required() for field in body.model_fields.values())


def test_a_public_lead_has_every_column_null_only_where_stored_so() -> None:
    fields = LeadPublic.model_fields
    assert set(fields) == set(LEAD_COLUMNS) | LEAD_EXTRAS
    assert set(fields) == {c.name for c in leads.columns} - {"project_id"} | {"name"}
    assert all(field.is_required() for field in fields.values())
    for column in leads.columns:
        if column.name in fields:
            nullable = types.NoneType in typing.get_args(fields[column.name].annotation)
            assert nullable == column.nullable, column.name


def test_lead_fields_take_their_types_from_the_column_kinds() -> None:
    fields = LeadPublic.model_fields
    assert fields["id"].annotation is int
    assert fields["engagement_score"].annotation is float
    assert fields["tags"].annotation == list[str]
    assert set(typing.get_args(fields["account_id"].annotation)) == {int, types.NoneType}
    phone_type = LeadCreate.model_fields["phone_type"].annotation
    assert set(typing.get_args(typing.get_args(phone_type)[0])) == {"mobile", "landline", "unknown"}
