"""Building the WSGI app that an HTTP function serves, with auth and JSON errors in one place."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..config import Settings
from ..errors import ClientError, ServiceUnavailableError, UnauthorizedError
from ..stream import tokens
from . import deps, events, files, github, headers, health, inputs, openapi, patterns, rollups, spec, stream, uploads

log = logging.getLogger("logpipe.http")


STREAM_PATH = "/api/stream"


def require_token() -> None:
    """Every /api route needs ``Authorization: Bearer <LOGPIPE_API_TOKEN>``; the stream also
    takes a stream token as ``?token=`` (a browser's EventSource cannot send headers), and
    no other route takes a token from the query string."""
    expected = deps.settings().api_token
    if not expected:
        raise ServiceUnavailableError("config", "LOGPIPE_API_TOKEN is not set on the server")
    header = request.headers.get("Authorization", "")
    if not header and request.path == STREAM_PATH and "token" in request.args:
        tokens.verify(expected, request.args["token"])
        return
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise UnauthorizedError("missing bearer token: send 'Authorization: Bearer <LOGPIPE_API_TOKEN>'")
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise UnauthorizedError("wrong API token")


BLUEPRINTS: dict[str, Blueprint] = {
    "uploads": uploads.bp,
    "files": files.bp,
    "patterns": patterns.bp,
    "events": events.bp,
    "rollups": rollups.bp,
    "health": health.bp,
    "stream": stream.bp,
    "github": github.api_bp,
    "openapi": openapi.bp,
}


def create_app(settings_: Settings, *parts: str) -> Flask:
    """The WSGI app serving ``parts`` (``uploads``, ``files``, ``patterns``, ``events``, ``rollups``,
    ``health``, ``stream``, ``github``, ``openapi``, ``webhook``); all but ``webhook`` if none named.
    Each request is checked against its route's declaration (spec.py) before the route runs.

    ``webhook`` (GitHub's deliveries) is served only when named, and then refuses to start
    without ``GITHUB_WEBHOOK_SECRET`` (ConfigError)."""
    if "webhook" in parts:
        github.check_secret(settings_)
    blueprints = dict(BLUEPRINTS)
    if "webhook" in parts:
        blueprints["webhook"] = github.webhook_bp
    app = Flask("logpipe")
    app.config["MAX_CONTENT_LENGTH"] = settings_.max_body_bytes
    deps.bind(app, settings_)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    for name in parts or tuple(blueprints):
        app.register_blueprint(blueprints[name])

    @app.before_request
    def _auth() -> None:
        if request.path.startswith("/api/"):
            require_token()
        inputs.check_query()
        spec.check_request(app)

    @app.after_request
    def _secure(response: Response) -> Response:
        for name, value in headers.SECURITY_HEADERS:
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(ClientError)
    def _client_error(exc: ClientError) -> Any:
        response = jsonify(error=str(exc))
        response.status_code = exc.status
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="logpipe"'
        return response

    @app.errorhandler(ServiceUnavailableError)
    def _unavailable(exc: ServiceUnavailableError) -> Any:
        log.warning("dependency unavailable: %s", exc)
        return jsonify(error=str(exc), component=exc.component), 503

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if exc.code == 413:
            limit = settings_.max_body_bytes
            return jsonify(error=f"the request body is over {limit} bytes (LOGPIPE_MAX_BODY_BYTES)"), 413
        return jsonify(error=exc.description or exc.name), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error=f"internal error: {type(exc).__name__}"), 500

    return app
