"""A webhook delivery: verified, read, stored once, and what it asks of the pipeline.

``receive`` takes the request's headers and raw body and returns what to answer. It
verifies the signature before reading anything else, so a delivery that is not GitHub's
(wrong secret, body changed after signing) is refused having stored nothing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

from ..db import github as github_db
from ..db.events import ensure_partitions
from ..errors import BadRequestError, UnauthorizedError
from .logs import LogsTask
from .signature import verify_signature

log = logging.getLogger("logpipe.github")

FORM = "application/x-www-form-urlencoded"

# Conclusions of a run, job or check that failed: the delivery's event is an error.
FAILED = frozenset({"failure", "timed_out", "startup_failure", "action_required"})
# Deployment states that failed.
FAILED_STATES = frozenset({"failure", "error"})


class Headers(Protocol):
    """Request headers, looked up without regard to case (werkzeug's ``Headers``)."""

    def get(self, key: str, default: str) -> str: ...


@dataclass(frozen=True)
class Received:
    """What to answer GitHub, and the delivery as stored (None for a redelivery)."""

    status: int
    body: dict[str, Any]
    stored: dict[str, Any] | None
    logs: LogsTask | None


def _payload(body: bytes, content_type: str) -> tuple[Any, str]:
    """The payload of a JSON delivery, or of a form-encoded one (its ``payload`` field),
    and its JSON text."""
    try:
        if content_type.split(";")[0].strip().lower() == FORM:
            values = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            if "payload" not in values:
                raise BadRequestError("a form-encoded delivery needs a 'payload' field")
            text = values["payload"][0]
        else:
            text = body.decode("utf-8")
        return json.loads(text), text
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError(f"the delivery's payload is not JSON: {exc}") from None


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def as_event(
    event: str, payload: dict[str, Any], repository: str | None, sender: str | None
) -> github_db.DeliveryEvent:
    """The delivery as one event: a line a person reads, its level, and fields to filter on."""
    action = _text(payload.get("action"))
    fields: dict[str, Any] = {"event": event}
    if action:
        fields["action"] = action
    if repository:
        fields["repository"] = repository
    if sender:
        fields["sender"] = sender
    level, detail = "info", ""
    thing = payload.get(event) if event in ("workflow_run", "workflow_job", "check_run", "check_suite") else None
    if isinstance(thing, dict):
        conclusion, status = thing.get("conclusion"), thing.get("status")
        name = thing.get("name") or thing.get("workflow_name") or _get(thing, "app", "name") or ""
        detail = f"{name} {conclusion or status or ''}".strip()
        fields.update({k: v for k, v in (("conclusion", conclusion), ("status", status)) if v is not None})
        if event == "workflow_run":
            fields.update(workflow=thing.get("name"), run_id=thing.get("id"), run_attempt=thing.get("run_attempt"))
            detail = f"{thing.get('name') or ''} #{thing.get('run_number')} {conclusion or status or ''}".strip()
        elif event == "workflow_job":
            fields.update(
                workflow=thing.get("workflow_name"),
                job=thing.get("name"),
                run_id=thing.get("run_id"),
                run_attempt=thing.get("run_attempt"),
            )
        if conclusion in FAILED:
            level = "error"
    elif event == "deployment_status":
        state = _get(payload, "deployment_status", "state")
        detail = f"{_get(payload, 'deployment', 'environment') or ''} {state or ''}".strip()
        if state in FAILED_STATES:
            level = "error"
    elif event == "push":
        commits = payload.get("commits")
        detail = f"{payload.get('ref', '')} ({len(commits) if isinstance(commits, list) else 0} commits)"
    elif event in ("pull_request", "issues"):
        item = payload.get("pull_request" if event == "pull_request" else "issue") or {}
        detail = f"#{_get(item, 'number')} {_get(item, 'title') or ''}".strip()
    elif event == "release":
        detail = str(_get(payload, "release", "tag_name") or "")
    elif event in ("create", "delete"):
        detail = f"{payload.get('ref_type', '')} {payload.get('ref', '')}".strip()
    elif event == "ping":
        detail = str(payload.get("zen") or "")
    head = event + (f" {action}" if action else "")
    where = f" {repository}" if repository else ""
    return github_db.DeliveryEvent(level, f"{head}{where}: {detail}" if detail else f"{head}{where}", fields)


@dataclass
class _Waiting:
    delivery: github_db.NewDelivery
    event: github_db.DeliveryEvent
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to write the next group
    finished: bool = False
    stored: dict[str, Any] | None = None
    error: BaseException | None = None


class GroupCommit:
    """Deliveries that arrive together are stored together: one statement and one commit
    for a group, instead of one each.

    The first delivery to arrive when nothing is being written is written at once (no
    delivery waits for company); the ones that arrive meanwhile queue, and when the write
    ends the first of them writes all of them (up to ``MAX_GROUP``) as the next group.
    ``record`` returns only after the commit that holds its delivery. When a group's write
    fails, each of its deliveries is written again on its own, so that one bad delivery
    fails alone; the writes are idempotent on the delivery id, so a group whose commit
    went through unseen (a connection lost at that moment) is neither lost nor doubled.
    """

    MAX_GROUP = 64

    def __init__(self, conn: Callable[[], Any]) -> None:
        self._conn = conn  # lends a Postgres connection for a block
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._writing = False  # when False, the queue is empty
        self.groups = 0  # groups written, for tests and logs

    def record(self, delivery: github_db.NewDelivery, event: github_db.DeliveryEvent) -> dict[str, Any] | None:
        """``github_db.record_delivery``, committed within a group."""
        me = _Waiting(delivery, event)
        with self._lock:
            self._queue.append(me)
            if not self._writing:
                self._writing = me.lead = True
        while not me.lead and not me.finished:
            me.wake.wait()
            me.wake.clear()
        if not me.finished:
            self._lead()
        if me.error is not None:
            raise me.error
        return me.stored

    def _lead(self) -> None:
        """Write the group at the head of the queue (this thread's delivery is its first),
        then hand the next group to its first delivery's thread."""
        with self._lock:
            group = self._queue[: self.MAX_GROUP]
            del self._queue[: self.MAX_GROUP]
        try:
            self._write(group)
        finally:
            for w in group:
                if not w.finished:  # interrupted before its outcome was known
                    w.error = w.error or RuntimeError("the group commit was interrupted")
                    w.finished = True
                w.wake.set()
            with self._lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].wake.set()
                else:
                    self._writing = False

    def _write(self, group: list[_Waiting]) -> None:
        now = datetime.now(UTC)
        try:
            with self._conn() as c:
                ensure_partitions(c, {(now.year, now.month)})
                stored = github_db.record_deliveries(c, [(w.delivery, w.event) for w in group])
            self.groups += 1
        except Exception as exc:  # noqa: BLE001 - each delivery's own request answers its outcome
            if len(group) == 1:
                group[0].error, group[0].finished = exc, True
                return
            log.warning("a group of %d deliveries failed (%s); writing each on its own", len(group), exc)
            for w in group:
                try:
                    with self._conn() as c:
                        w.stored = github_db.record_delivery(c, w.delivery, w.event)
                except Exception as alone:  # noqa: BLE001 - its own request answers it
                    w.error = alone
                w.finished = True
            return
        for w, one in zip(group, stored, strict=True):
            w.stored, w.finished = one, True


def receive(
    conn: Callable[[], Any],
    secret: str,
    headers: Headers,
    body: bytes,
    store: Callable[[github_db.NewDelivery, github_db.DeliveryEvent], dict[str, Any] | None] | None = None,
) -> Received:
    """Verify, read and store one delivery; ``conn()`` lends a Postgres connection, and
    ``store`` (a ``GroupCommit``'s ``record``), when given, stores it instead.

    Raises UnauthorizedError (nothing stored) for a missing or wrong signature, and
    BadRequestError for a signed delivery that lacks what every delivery has. Storing is
    idempotent on ``X-GitHub-Delivery``: a redelivery is answered and stored once.
    """
    if not verify_signature(secret, body, headers.get("X-Hub-Signature-256", "")):
        raise UnauthorizedError(
            "missing or wrong X-Hub-Signature-256: the webhook's secret must be GITHUB_WEBHOOK_SECRET"
        )
    event = headers.get("X-GitHub-Event", "").strip()
    delivery_id = headers.get("X-GitHub-Delivery", "").strip()
    if not event or not delivery_id or len(delivery_id) > 200 or len(event) > 100:
        raise BadRequestError("a delivery needs the X-GitHub-Event and X-GitHub-Delivery headers")
    payload, text = _payload(body, headers.get("Content-Type", "application/json"))
    if not isinstance(payload, dict):
        raise BadRequestError("the delivery's payload is not a JSON object")
    repository = _text(_get(payload, "repository", "full_name"))
    sender = _text(_get(payload, "sender", "login"))
    new = github_db.NewDelivery(
        delivery_id=delivery_id,
        hook_id=headers.get("X-GitHub-Hook-ID", "").strip(),
        event=event,
        action=_text(payload.get("action")),
        repository=repository,
        sender=sender,
        # jsonb refuses the NUL escape, which JSON allows: such a payload is written again.
        payload_json=text if "\\u0000" not in text else json.dumps(payload).replace("\\u0000", "\\ufffd"),
    )
    stored = (store or GroupCommit(conn).record)(new, as_event(event, payload, repository, sender))
    logs = LogsTask.of_delivery(event, payload, delivery_id)
    answer: dict[str, Any] = {"delivery_id": delivery_id, "event": event, "stored": stored is not None}
    if stored is None:
        answer["duplicate"] = True
        log.info("redelivery of %s answered, stored before", delivery_id)
    if event == "ping":
        answer["zen"] = payload.get("zen")
        return Received(200, answer, stored, None)
    return Received(202, answer, stored, logs)
