"""Schemathesis against /api/v1/openapi.json, on both databases: every operation, with
generated valid and invalid inputs, answers without a 5xx, with a documented status code, and
with a body that matches its schema.

Semantic refusals of schema-valid input (a filter naming an unknown field is a well-formed
JSON object, and a 422) are the API's job, so that one check is left out."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import Api

EXAMPLES = 6  # per operation and database: the suite's time matters more than depth here


def test_every_operation_answers_within_its_schema(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.client.app)
    headers = {"Authorization": f"Bearer {api.tokens['owner']}"}
    skipped_check = [schemathesis.checks.positive_data_acceptance]
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            suppress_health_check=list(HealthCheck),
            deadline=None,
            database=None,
        )
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=skipped_check)

        try:
            call()
        except BaseException as exc:  # hypothesis raises a group of what it found
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
