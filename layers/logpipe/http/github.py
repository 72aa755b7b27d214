"""POST /webhook/github (GitHub's deliveries, signed: no bearer token) and GET
/api/github/deliveries, /api/github/deliveries/{id}."""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException

from .. import metrics
from ..config import Settings
from ..db import github as github_db
from ..errors import (
    BadRequestError,
    ClientError,
    ConfigError,
    NotFoundError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from ..github import webhook
from ..queue import WorkQueue, work_queue
from . import deps
from .deps import connection, settings
from .spec import Op, Param, declare

log = logging.getLogger("logpipe.github")

webhook_bp = Blueprint("webhook", __name__)
api_bp = Blueprint("github", __name__)

MAX_LIMIT = 500
_SENDER = "logpipe.github.sender"
_GROUP = "logpipe.github.group_commit"


class _Sender:
    """The work queue, shared by the requests of one app (a RabbitMQ channel is not
    thread-safe: one send at a time)."""

    def __init__(self, settings_: Settings) -> None:
        self.settings = settings_
        self.lock = threading.Lock()
        self.queue: WorkQueue | None = None

    def send(self, body: str) -> None:
        with self.lock:
            if self.queue is None:
                self.queue = work_queue(self.settings)
            try:
                self.queue.send([body])
            except Exception:
                self.queue.close()
                self.queue = None
                raise

    def close(self) -> None:
        with self.lock:
            if self.queue is not None:
                self.queue.close()
                self.queue = None


def check_secret(settings_: Settings) -> None:
    """The webhook does not start without its secret: unsigned deliveries would be refused
    one by one, or, worse, a check that is skipped would take anyone's."""
    if not settings_.github_webhook_secret:
        raise ConfigError(
            "GITHUB_WEBHOOK_SECRET is not set: the webhook cannot verify deliveries without it "
            "(logpipe run generates one; on AWS it is the stack's GitHubWebhookSecret parameter)"
        )


@webhook_bp.record_once
def _bind(state: Any) -> None:
    sender = _Sender(deps.settings_of(state.app))
    state.app.config[_SENDER] = sender
    deps.on_close(state.app, sender.close)
    # The app's deliveries share commits (its requests run on threads of one process).
    state.app.config[_GROUP] = webhook.GroupCommit(deps.pool_of(state.app).get)


@webhook_bp.post("/webhook/github")
def receive() -> Any:
    s = settings()
    event = request.headers.get("X-GitHub-Event", "")
    try:
        request.max_content_length = s.github_max_body_bytes  # 413 above GitHub's own cap
        body = request.get_data(cache=False)
        store = current_app.config[_GROUP].record
        received = webhook.receive(connection, s.github_webhook_secret, request.headers, body, store)
    except UnauthorizedError:
        metrics.webhook_delivery(event, "bad_signature")
        raise
    except (ClientError, HTTPException):
        metrics.webhook_delivery(event, "bad_request")
        raise
    except Exception:
        metrics.webhook_delivery(event, "error")
        raise
    metrics.webhook_delivery(event, "accepted" if received.stored is not None else "duplicate")
    if received.logs is not None:
        try:
            current_app.config[_SENDER].send(received.logs.message())
        except Exception as exc:
            # Stored, but its logs are not asked for: GitHub shows the failure, and its
            # "Redeliver" (answered as a duplicate) asks again.
            log.exception("could not queue the logs of delivery %s", received.body["delivery_id"])
            raise ServiceUnavailableError("queue", str(exc)) from exc
        received.body["logs"] = "queued"
    return received.body, received.status


@api_bp.get("/api/github/deliveries")
@declare(
    Op(
        "GitHub deliveries received, newest first",
        params=(
            Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "how many (default 50)"),
            Param("cursor", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}, "next_cursor of the page before"),
            Param("event", {"type": "string"}, "only deliveries of this event (push, workflow_run...)"),
            Param("repo", {"type": "string"}, "only deliveries of this repository (owner/name)"),
        ),
        responses={
            200: (
                "a page of deliveries",
                {
                    "type": "object",
                    "required": ["deliveries", "next_cursor"],
                    "properties": {
                        "deliveries": {"type": "array"},
                        "next_cursor": {"type": "string", "nullable": True},
                    },
                },
            )
        },
    )
)
def list_deliveries() -> Any:
    args = request.args
    try:
        limit = int(args.get("limit", "50"))
        before = int(args["cursor"]) if args.get("cursor") else None
    except ValueError:
        raise BadRequestError("'limit' and 'cursor' are whole numbers (send back 'next_cursor' as 'cursor')") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequestError(f"'limit' must be between 1 and {MAX_LIMIT}")
    with connection() as conn:
        rows = github_db.list_deliveries(
            conn, event=args.get("event") or None, repository=args.get("repo") or None, limit=limit + 1, before=before
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return {"deliveries": rows, "next_cursor": str(rows[-1]["seq"]) if more else None}


@api_bp.get("/api/github/deliveries/<delivery_id>")
@declare(
    Op(
        "One GitHub delivery",
        params=(Param("delivery_id", {"type": "string"}, "the delivery's id", where="path"),),
        responses={200: ("the delivery", {"type": "object"}), 404: ("no such delivery", None)},
    )
)
def get_delivery(delivery_id: str) -> Any:
    with connection() as conn:
        found = github_db.get_delivery(conn, delivery_id)
    if found is None:
        raise NotFoundError(f"no delivery {delivery_id}")
    return found
