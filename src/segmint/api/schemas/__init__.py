"""Request and response shapes (pydantic) of the API, one module per resource.

Names say what a model is for:

- a stored resource X: `XCreate` (the body that creates one), `XUpdate` (the body that
  changes one), `XPublic` (X as the API answers it; also the answered form of an engine value,
  like `RowErrorPublic`), `XList` (`{"items"}`, all of them), `XPage` (`{"items"}` with
  `total`/`page` or a `next_*` cursor), `XWithSecret` (`XPublic` with a secret shown once);
- any other request body, or part of one: `XIn`;
- any other answer (computed, not stored), or part of one: a noun for what it holds
  (`Preview`, `CountResult`, `SegmentAnalytics`, `Audience`).

Value rules (email syntax, the project's statuses, custom field types) live in the engine and
are shared with imports; these models fix the JSON shape and document it in OpenAPI.
"""

from __future__ import annotations

from segmint.api.schemas.errors import ERROR_RESPONSES, ErrorBody, ErrorDetail

__all__ = ["ERROR_RESPONSES", "ErrorBody", "ErrorDetail"]
