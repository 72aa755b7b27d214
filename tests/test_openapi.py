"""GET /api/openapi.json is generated from the declarations that check requests, and every
route, fuzzed from it by schemathesis, never answers 500 nor outside its declared schema.

``make test`` runs a short fuzz (a few examples per route); ``make fuzz`` a long one
(LOGPIPE_FUZZ_SCALE times as many).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from logpipe.config import Settings
from logpipe.http import create_app, deps
from logpipe.http.app import BLUEPRINTS
from logpipe.http.spec import op_of

from conftest import TOKEN

pytestmark = pytest.mark.services

AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 25 * int(os.environ.get("LOGPIPE_FUZZ_SCALE", "1"))


def test_every_route_is_declared_and_served_in_the_document(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings())
    try:
        r = app.test_client().get("/api/openapi.json", headers=AUTH)
        assert r.status_code == 200
        doc = r.get_json()
        assert doc["openapi"].startswith("3.")
        served = set()
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            assert op_of(app.view_functions[rule.endpoint]) is not None, f"{rule.rule} has no declaration"
            path = rule.rule.replace("<", "{").replace(">", "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((path, method.lower()))
        documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
        assert documented == served
        assert set(BLUEPRINTS) >= {"uploads", "files", "events", "openapi"}
        # A part of the API documents the whole of it.
        part = create_app(app.config["logpipe.settings"], "health", "openapi")
        assert part.test_client().get("/api/openapi.json", headers=AUTH).get_json() == doc
    finally:
        deps.close(app)


def _operations(app: Flask) -> list[Any]:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, headers=AUTH)
    return [result.ok() for result in schema.get_all_operations() if not result.ok().definition.raw.get("x-endless")]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_schemathesis_over_every_route(make_settings: Callable[..., Settings], mode: GenerationMode) -> None:
    """Positive: requests the document allows; negative: requests it does not, which must be 4xx."""
    app = create_app(make_settings())
    failures: list[str] = []
    try:
        operations = _operations(app)
        assert len(operations) >= 10
        for operation in operations:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                response = case.call(headers=AUTH)
                assert response.status_code != 500, (
                    case.method,
                    case.formatted_path,
                    case.query,
                    case.body,
                    response.text[:500],
                )
                case.validate_response(
                    response,
                    checks=[status_code_conformance, content_type_conformance, response_schema_conformance],
                )

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, f"{operation.path}: no request at all"  # nothing to get wrong
            except Exception as exc:  # noqa: BLE001 - gathered, then reported together
                failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    finally:
        deps.close(app)
    assert not failures, "\n\n".join(failures)
