"""What a request may carry to the database: the checks every route's input goes through.

Postgres text holds neither NUL nor a lone surrogate, and pg8000 fails on a lone surrogate
half-way through sending a query. So text from a client is checked here, before any of it
reaches the driver, and refused with a 400 that names the field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from ..errors import BadRequestError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_text(value: str, name: str) -> str:
    """``value``, or a 400 naming ``name`` when Postgres could not store it."""
    found = _UNSTORABLE.search(value)
    if found is not None:
        what = "NUL" if found.group() == "\x00" else f"a lone surrogate (U+{ord(found.group()):04X})"
        raise BadRequestError(f"'{name}' holds {what}, which text cannot hold")
    return value


def check_query() -> None:
    """Every query parameter of the current request is storable text."""
    for name, value in request.args.items(multi=True):
        check_text(name, "query parameter name")
        check_text(value, name)


def json_body(hint: str) -> Any:
    """The request's JSON body, every string in it (keys too) checked by ``check_text``.

    ``hint`` says what to send, for the 400 of a body that is no JSON. A body nested
    too deep for the parser is a 400 as well.
    """
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequestError(f"send a JSON body: {hint}")
    try:
        body = json.loads(raw)
    except RecursionError:
        raise BadRequestError("the JSON body is nested too deep") from None
    except ValueError as exc:
        raise BadRequestError(f"the body is not JSON ({exc}): send {hint}") from None
    _check_strings(body)
    return body


def _check_strings(body: Any) -> None:
    # Iterative: a body that the parser accepted must not exhaust the stack here.
    todo: list[tuple[str, Any]] = [("", body)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, str):
            check_text(value, path or "body")
        elif isinstance(value, dict):
            for k, v in value.items():
                check_text(k, f"{path}.{k}" if path else "key")
                todo.append((f"{path}.{k}" if path else k, v))
        elif isinstance(value, list):
            todo.extend((f"{path}[{i}]", v) for i, v in enumerate(value))


def clamped_limit(default: int, most: int) -> int:
    """The request's ``limit`` (``spec.clamped_limit`` declares it): ``default`` when left
    out, brought within 1 to ``most`` when outside."""
    try:
        return min(max(int(request.args.get("limit", str(default))), 1), most)
    except ValueError:
        raise BadRequestError("'limit' must be a whole number") from None
