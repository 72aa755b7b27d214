"""GET /api/openapi.json: the API's OpenAPI 3 document, generated from the routes' declarations
(spec.py), the same ones that check each request."""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint, Flask

from .. import __version__
from .spec import Op, declare, openapi

bp = Blueprint("openapi", __name__)


@cache
def document() -> dict[str, Any]:
    """The document of every route of the API, whichever part this function serves."""
    from .app import BLUEPRINTS  # the app imports this module

    whole = Flask("logpipe-openapi")
    for blueprint in BLUEPRINTS.values():
        whole.register_blueprint(blueprint)
    return openapi(whole, "logpipe", __version__)


@bp.get("/api/openapi.json")
@declare(Op("This document", responses={200: ("the OpenAPI 3 document", {"type": "object", "required": ["openapi"]})}))
def openapi_json() -> Any:
    return document()
