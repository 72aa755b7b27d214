"""GET /health: 200 when Postgres, the queue and the bucket answer; 503 naming the first that does not."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..errors import ServiceUnavailableError
from ..queue import all_queues
from ..storage import Bucket
from .deps import connection, settings

bp = Blueprint("health", __name__)


def check(settings_: Any, conn_cm: Any) -> dict[str, str]:
    with conn_cm as conn:
        try:
            conn.run("SELECT 1")
        except Exception as exc:
            raise ServiceUnavailableError("postgres", str(exc)) from exc
    for q in all_queues(settings_):
        try:
            q.ping()
        finally:
            q.close()
    Bucket(settings_).ping()
    return {"postgres": "ok", "queue": "ok", "bucket": "ok"}


@bp.get("/health")
def health() -> Any:
    try:
        return {"status": "ok", **check(settings(), connection())}
    except ServiceUnavailableError as exc:
        return {"status": "unavailable", "failed": exc.component, "error": str(exc)}, 503
