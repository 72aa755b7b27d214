"""GET /health: 200 when Postgres, the queue and the bucket answer; 503 naming the first that does not.

Postgres gets ``LOGPIPE_HEALTH_TIMEOUT_S`` to answer, so that a frozen server makes the
check fail rather than hang with the probe that asked.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..config import Settings
from ..errors import ServiceUnavailableError
from ..queue import all_queues
from ..storage import Bucket
from .deps import pool, settings
from .pool import Connections
from .spec import Op, declare

HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]}, "failed": {"type": "string"}},
}

bp = Blueprint("health", __name__)


def _check_postgres(connections: Connections, timeout_s: int) -> None:
    try:
        # The pool discards a connection that timed out or died, and says so as a
        # ServiceUnavailableError caused by the driver's error.
        with connections.get(timeout_s=timeout_s) as conn:
            conn.run("SELECT 1")
    except ServiceUnavailableError as exc:
        if isinstance(exc.__cause__, TimeoutError):
            raise ServiceUnavailableError("postgres", f"no answer within {timeout_s} s") from exc
        raise
    except Exception as exc:  # a server error (a database shutting down, say) is unavailability too
        raise ServiceUnavailableError("postgres", str(exc)) from exc


def check(settings_: Settings, connections: Connections) -> dict[str, str]:
    _check_postgres(connections, settings_.health_timeout_s)
    for q in all_queues(settings_):
        try:
            q.ping()
        finally:
            q.close()
    Bucket(settings_).ping()
    return {"postgres": "ok", "queue": "ok", "bucket": "ok"}


@bp.get("/health")
@declare(
    Op(
        "Whether Postgres, the queue and the bucket answer",
        auth=False,
        responses={200: ("all answer", HEALTH), 503: ("the first that does not, named in 'failed'", HEALTH)},
    )
)
def health() -> Any:
    try:
        return {"status": "ok", **check(settings(), pool())}
    except ServiceUnavailableError as exc:
        return {"status": "unavailable", "failed": exc.component, "error": str(exc)}, 503
