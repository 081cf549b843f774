"""The API's one router: every resource's routes, mounted by the app under `API_PREFIX`."""

from __future__ import annotations

from fastapi import APIRouter

from segmint.api.routes import (
    accounts,
    bulk_actions,
    campaigns,
    custom_fields,
    events,
    exports,
    filters,
    imports,
    leads,
    lists,
    overlap,
    projects,
    scoring,
    segments,
    settings,
    users,
    webhooks,
)
from segmint.api.schemas import ERROR_RESPONSES

API_PREFIX = "/api/v1"

router = APIRouter(responses=ERROR_RESPONSES)
for module in (
    imports,  # before leads: /leads/import is not a lead id
    leads,
    events,
    custom_fields,
    accounts,
    segments,
    lists,
    overlap,
    exports,
    webhooks,
    filters,
    settings,
    users,
    projects,
    scoring,
    campaigns,
    bulk_actions,
):
    router.include_router(module.router)
