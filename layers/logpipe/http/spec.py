"""Each route's parameters, body and answers, declared once beside its handler.

``@declare(Op(...))`` puts the declaration on the view function. The app checks every
request against it before the handler runs (``check_request``), and ``GET /api/openapi.json``
is generated from the same declarations (``openapi``): the document cannot say something the
server does not check. Schemas are the JSON Schema subset OpenAPI 3.0 uses; ``check`` reads
the part of it written here (types, enums, lengths, bounds, patterns, properties).

Handlers still decide what a schema cannot say (that a timezone exists, that a time is
before another), with the same JSON 400.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, request

from ..errors import BadRequestError
from . import inputs

F = TypeVar("F", bound=Callable[..., Any])

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
ANY_OBJECT: dict[str, Any] = {"type": "object"}
NULLABLE_STRING: dict[str, Any] = {"type": "string", "nullable": True}
FILE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "status"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "status": {"type": "string"},
        "size": {"type": "integer", "nullable": True},
        "lines": {"type": "integer", "nullable": True},
        "events": {"type": "integer", "nullable": True},
        "errors": {"type": "integer", "nullable": True},
        "created_at": {"type": "string"},
        "finished_at": NULLABLE_STRING,
        "error": NULLABLE_STRING,
    },
}
TIME_DOC = "an RFC 3339 time (2026-11-30T14:05:00Z) or one relative to now (now, -30s, -15m, -2h, -7d, -1w)"


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str = ""
    where: str = "query"  # or "path"
    required: bool = False


@dataclass(frozen=True)
class Op:
    summary: str
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    body_hint: str = "a JSON object"
    # status: (description, schema of the JSON answer or None)
    responses: dict[int, tuple[str, dict[str, Any] | None]] = field(default_factory=dict)
    auth: bool = True
    media_type: str = "application/json"  # of the successful answers
    fuzz: bool = True  # False: an endless answer (the stream), left out of schemathesis runs

    def all_responses(self) -> dict[int, tuple[str, dict[str, Any] | None]]:
        """The declared answers, and the errors every such route may give."""
        out = dict(self.responses)
        out.setdefault(400, ("the request is malformed: the error says what to fix", ERROR))
        if self.auth:
            out.setdefault(401, ("no or wrong 'Authorization: Bearer <token>'", ERROR))
        if self.body is not None:
            out.setdefault(413, ("the body is over LOGPIPE_MAX_BODY_BYTES", ERROR))
        out.setdefault(503, ("a dependency (Postgres, the queue, the bucket) does not answer", ERROR))
        return dict(sorted(out.items()))


def object_of(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """The schema of a JSON object with these keys always present and these keys described."""
    return {"type": "object", "required": required, "properties": properties}


def list_of(key: str, items: dict[str, Any]) -> dict[str, Any]:
    """The schema of an answer that is an object holding one list, ``key``, of ``items``."""
    return object_of([key], {key: {"type": "array", "items": items}})


def time_range(after: str = TIME_DOC, before: str = TIME_DOC) -> tuple[Param, ...]:
    """The ``from`` and ``to`` parameters of a time range (``search/params.parse_time`` reads them)."""
    return tuple(
        Param(name, {"type": "string", "maxLength": 64}, doc) for name, doc in (("from", after), ("to", before))
    )


def clamped_limit(default: int, most: int) -> Param:
    """The ``limit`` parameter that ``inputs.clamped_limit`` reads."""
    return Param("limit", {"type": "integer"}, f"how many (1 to {most}, default {default}; out of range is clamped)")


def declare(op: Op) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        fn.__logpipe_op__ = op  # type: ignore[attr-defined]
        return fn

    return mark


def op_of(fn: Any) -> Op | None:
    return getattr(fn, "__logpipe_op__", None)


# -- checking --------------------------------------------------------------------------------


def check_request(app: Flask) -> None:
    """The current request's path and query parameters and body, against its route's declaration."""
    if request.endpoint is None:
        return
    op = op_of(app.view_functions.get(request.endpoint))
    if op is None:
        return
    for p in op.params:
        if p.where == "path":
            value = (request.view_args or {}).get(p.name)
            if value is not None:
                check(p.schema, _typed(p, str(value)), p.name)
            continue
        given = request.args.getlist(p.name)
        if not given:
            if p.required:
                raise BadRequestError(f"'{p.name}' is required: {p.description}")
            continue
        if len(given) > 1:
            raise BadRequestError(f"'{p.name}' is given {len(given)} times: give it once")
        if given[0] == "":
            continue  # an empty parameter is a parameter left out
        check(p.schema, _typed(p, given[0]), p.name)
    if op.body is not None and request.method in ("POST", "PUT", "PATCH"):
        if request.get_data(cache=True) or "required" in op.body:
            check(op.body, inputs.json_body(op.body_hint), "body")


def _typed(p: Param, text: str) -> Any:
    if p.schema.get("type") == "integer":
        try:
            return int(text)
        except ValueError:
            raise BadRequestError(f"'{p.name}' must be a whole number, got {text[:32]!r}") from None
    return text


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_WORDS = {"integer": "a whole number", "string": "a string", "object": "a JSON object", "array": "a list"}


def check(schema: dict[str, Any], value: Any, name: str) -> None:
    """``value`` against ``schema``, or a 400 naming ``name`` and what it must be."""
    for where, problem in _problems(schema, value, name):
        raise BadRequestError(f"'{where}' {problem}")


def _problems(schema: dict[str, Any], value: Any, name: str) -> Iterator[tuple[str, str]]:
    kind = _kind(value)
    if value is None:
        if not schema.get("nullable"):
            yield name, f"must be {_WORDS.get(schema.get('type', ''), 'given')}, not null"
        return
    want = schema.get("type")
    if want is not None and kind != want and not (want == "number" and kind == "integer"):
        yield name, f"must be {_WORDS.get(want, want)}, got {kind}"
        return
    if "enum" in schema and value not in schema["enum"]:
        yield name, f"must be one of {', '.join(map(str, schema['enum']))}"
    if kind == "string":
        if len(value) < schema.get("minLength", 0):
            yield name, f"must have at least {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield name, f"must have at most {schema['maxLength']} characters"
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            yield name, f"must match {schema['pattern']}"
        if schema.get("format") == "uuid":
            try:
                uuid.UUID(value)
            except ValueError:
                yield name, f"must be a UUID, got {value[:64]!r}"
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            yield name, f"must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield name, f"must be at most {schema['maximum']}"
    if kind == "array":
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield name, f"must have at most {schema['maxItems']} items"
        for i, item in enumerate(value):
            yield from _problems(schema.get("items", {}), item, f"{name}[{i}]")
    if kind == "object":
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                yield f"{name}.{key}" if name != "body" else key, "is required"
        for key, item in value.items():
            where = f"{name}.{key}" if name != "body" else key
            if key in props:
                yield from _problems(props[key], item, where)
            elif schema.get("additionalProperties") is False:
                yield where, "is not a field of this request"


# -- the document ----------------------------------------------------------------------------

_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def openapi(app: Flask, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the routes ``app`` serves, from their declarations."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op = op_of(app.view_functions.get(rule.endpoint))
        if op is None:
            continue
        path = _RULE_ARG.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(op, rule.endpoint)
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _operation(op: Op, endpoint: str) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": endpoint, "summary": op.summary, "responses": {}}
    if not op.fuzz:
        out["x-endless"] = True
    if op.params:
        out["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required or p.where == "path",
                "description": p.description,
                "schema": p.schema,
            }
            for p in op.params
        ]
    if op.body is not None:
        out["requestBody"] = {
            "required": "required" in op.body,
            "content": {"application/json": {"schema": op.body}},
        }
    if op.auth:
        out["security"] = [{"bearer": []}]
    for status, (description, schema) in op.all_responses().items():
        media = op.media_type if status < 300 else "application/json"
        answer: dict[str, Any] = {"description": description}
        if schema is not None or media != "application/json":
            answer["content"] = {media: {"schema": schema or {"type": "string"}}}
        out["responses"][str(status)] = answer
    return out
