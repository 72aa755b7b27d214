"""CORS and security headers: the local runner answers preflights and cross-origin requests
as the template's HTTP API and function URL are configured to, and every answer says
that nothing in it is to be framed, sniffed or run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from function_modules import forgotten_after
from werkzeug.test import Client

from logpipe.config import Settings
from logpipe_local import template
from logpipe_local.runner import Dispatcher
from logpipe_local.template import TEMPLATE, _CfnLoader

from conftest import settings_env

OTHER = "https://elsewhere.example"


def _default_origin() -> str:
    doc = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)
    return str(doc["Parameters"]["AllowedOrigin"]["Default"])


@pytest.fixture
def runner(make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Client]]:
    for name, value in settings_env(make_settings()).items():
        monkeypatch.setenv(name, value)
    # sse-relay starts a metrics timer as it loads, which nothing stops: none here.
    monkeypatch.setenv("LOGPIPE_METRICS", "off")
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "cors-test-secret-" + "x" * 16)  # the webhook function needs one
    with forgotten_after():
        yield lambda **kw: Client(Dispatcher(template.load(), "WARNING", **kw))


def test_the_templates_allowed_origin_is_one_origin_not_a_wildcard() -> None:
    origin = _default_origin()
    assert origin != "*" and "*" not in origin
    assert origin.startswith(("http://", "https://"))
    for spec in template.load():
        if spec.routes or spec.wsgi_app:
            assert spec.cors is not None, f"{spec.name} has an HTTP front without CORS settings"
            assert spec.cors.origins == (origin,)


@pytest.mark.parametrize(
    ("path", "method", "header"),
    [
        ("/api/uploads", "POST", "Content-Type"),
        ("/api/files", "GET", "Authorization"),
        ("/api/stream", "GET", "Last-Event-ID"),  # the function URL's own CORS
    ],
)
def test_a_preflight_from_the_allowed_origin_is_answered(
    runner: Callable[..., Client], path: str, method: str, header: str
) -> None:
    origin = _default_origin()
    r = runner().options(
        path,
        headers={"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": header},
    )
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == origin
    assert method in r.headers["Access-Control-Allow-Methods"]
    assert header.lower() in r.headers["Access-Control-Allow-Headers"].lower()


def test_other_origins_get_no_cors_grant(runner: Callable[..., Client]) -> None:
    client = runner()
    r = client.options("/api/uploads", headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 403
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "error" in r.get_json()
    r = client.get("/api/files", headers={"Origin": OTHER})
    assert "Access-Control-Allow-Origin" not in r.headers
    r = client.get("/api/files", headers={"Origin": _default_origin()})
    assert r.headers["Access-Control-Allow-Origin"] == _default_origin()
    assert "Origin" in r.headers["Vary"]


def test_the_local_origin_setting_replaces_the_templates(runner: Callable[..., Client]) -> None:
    client = runner(allowed_origin=OTHER)
    r = client.options("/api/uploads", headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"})
    assert (r.status_code, r.headers["Access-Control-Allow-Origin"]) == (204, OTHER)
    r = client.options("/api/uploads", headers={"Origin": _default_origin(), "Access-Control-Request-Method": "POST"})
    assert r.status_code == 403


def test_options_without_a_preflight_lists_the_methods(runner: Callable[..., Client]) -> None:
    r = runner().options("/api/uploads")
    assert r.status_code == 204
    assert "POST" in r.headers["Allow"]


@pytest.mark.parametrize(
    ("method", "path", "kw"),
    [
        ("GET", "/api/files", {}),  # the app's 401
        ("POST", "/api/uploads", {"data": b"{"}),  # the app's 401 too: auth comes first
        ("GET", "/no/such/route", {}),  # the runner's own 404
        ("DELETE", "/api/files", {}),  # the runner's own 405
        ("GET", "/api/openapi.json", {}),
    ],
)
def test_every_answer_carries_the_security_headers(
    runner: Callable[..., Client], method: str, path: str, kw: dict[str, Any]
) -> None:
    r = runner().open(path, method=method, **kw)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Content-Type"].startswith("application/json")
