"""POST /webhook/github and GET /api/github/deliveries: against real Postgres and moto's SQS,
with GitHub's own payload examples and signature vectors from ../shared."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from logpipe import metrics
from logpipe.config import Settings
from logpipe.db import stream as stream_db
from logpipe.errors import ConfigError
from logpipe.github.signature import sign, verify_signature
from logpipe.http import create_app, deps
from logpipe.queue import work_queue
from logpipe.stream.tail import load

from conftest import SHARED, TOKEN, query

GITHUB = SHARED / "github"
needs_github = pytest.mark.shared_data(GITHUB)
SECRET = "webhook-secret-" + "y" * 16
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Hook:
    """GitHub's side: signs bodies with the secret and delivers them to the app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings, "webhook", "github", "events")
        self.client = self.app.test_client()

    def deliver(
        self,
        event: str,
        body: bytes,
        *,
        delivery: str | None = None,
        secret: str = SECRET,
        content_type: str = "application/json",
        signature: str | None = None,
    ) -> Any:
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "4242",
            "X-Hub-Signature-256": signature if signature is not None else sign(secret, body),
            "Content-Type": content_type,
        }
        return self.client.post("/webhook/github", data=body, headers=headers)


@pytest.fixture
def hook(make_settings: Callable[..., Settings]) -> Iterator[Hook]:
    h = Hook(make_settings(github_webhook_secret=SECRET))
    yield h
    deps.close(h.app)


def payloads() -> list[Path]:
    return sorted((GITHUB / "payloads").glob("*/*.json"))


def stored(settings: Settings) -> int:
    return int(query(settings, "SELECT count(*) FROM github_deliveries")[0][0])


def github_events(settings: Settings) -> list[list[Any]]:
    return query(settings, "SELECT level, message, fields FROM events WHERE source = 'github' ORDER BY line")


@needs_github
def test_every_signature_vector() -> None:
    vectors = json.loads((GITHUB / "signature-vectors.json").read_text(encoding="utf-8"))
    assert len(vectors) >= 6
    for v in vectors:
        body = v["payload"].encode(v.get("payload_encoding", "utf-8"))
        assert verify_signature(v["secret"], body, v["signature_sha256"]) is v["expect_valid"], v["id"]
        assert (sign(v["secret"], body) == v["signature_sha256"]) is v["expect_valid"], v["id"]


@needs_github
def test_every_payload_example_is_stored_once_as_a_delivery_and_an_event(hook: Hook) -> None:
    files = payloads()
    assert len(files) == 59
    for path in files:
        body = path.read_bytes()  # signed as it is: pretty-printed, never re-serialised
        r = hook.deliver(path.parent.name, body, delivery=f"{path.parent.name}/{path.name}")
        assert r.status_code == (200 if path.parent.name == "ping" else 202), (path, r.get_json())
        assert r.get_json()["stored"] is True
    s = hook.settings
    assert stored(s) == len(files)
    events = github_events(s)
    assert len(events) == len(files)
    by_event: dict[str, list[list[Any]]] = {}
    for level, message, fields in events:
        by_event.setdefault(fields["event"], []).append([level, message, fields])
    # A failed job or check run is an error; a successful one is not.
    failed_job = [e for e in by_event["workflow_job"] if e[2].get("conclusion") == "failure"]
    assert failed_job and all(e[0] == "error" for e in failed_job)
    ok_job = [e for e in by_event["workflow_job"] if e[2].get("conclusion") == "success"]
    assert ok_job and all(e[0] == "info" for e in ok_job)
    assert all(e[0] == "info" for e in by_event["ping"])
    assert any(e[1].startswith("workflow_run completed octo-org/octo-repo") for e in by_event["workflow_run"])
    # Each stored payload is the delivered one.
    payload_of = dict(query(s, "SELECT delivery_id, payload FROM github_deliveries"))
    for path in files:
        assert payload_of[f"{path.parent.name}/{path.name}"] == json.loads(path.read_bytes()), path


@needs_github
def test_a_completed_workflow_run_queues_its_logs(hook: Hook) -> None:
    body = (GITHUB / "payloads" / "workflow_run" / "completed.payload.json").read_bytes()
    r = hook.deliver("workflow_run", body)
    assert r.status_code == 202 and r.get_json()["logs"] == "queued"
    q = work_queue(hook.settings)
    try:
        got = q.receive(10, wait_s=2)
        messages = [m for m in (json.loads(d.body) for d in got) if m.get("Event") != "s3:TestEvent"]
    finally:
        q.close()
    run = json.loads(body)["workflow_run"]
    assert [m["kind"] for m in messages] == ["github_logs"]
    assert messages[0]["run_id"] == run["id"] and messages[0]["repository"] == "octo-org/octo-repo"


def counted(event: str, outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value("logpipe_webhook_deliveries_total", {"event": event, "outcome": outcome})
    return value or 0.0


def test_a_redelivery_is_answered_and_stored_once(hook: Hook) -> None:
    body = json.dumps({"action": "created", "repository": {"full_name": "o/r"}, "sender": {"login": "u"}}).encode()
    accepted, duplicate = counted("star", "accepted"), counted("star", "duplicate")
    first = hook.deliver("star", body, delivery="d-1")
    again = hook.deliver("star", body, delivery="d-1")
    assert (counted("star", "accepted"), counted("star", "duplicate")) == (accepted + 1, duplicate + 1)
    assert first.status_code == again.status_code == 202
    assert first.get_json()["stored"] is True and again.get_json() == {
        "delivery_id": "d-1",
        "event": "star",
        "stored": False,
        "duplicate": True,
    }
    assert stored(hook.settings) == 1 and len(github_events(hook.settings)) == 1


def test_a_form_encoded_delivery_is_verified_over_its_raw_body(hook: Hook) -> None:
    payload = {"zen": "Keep it logically awesome.", "hook_id": 1, "repository": {"full_name": "o/r"}}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    r = hook.deliver("ping", body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and r.get_json()["zen"] == payload["zen"]
    row = query(hook.settings, "SELECT payload, repository FROM github_deliveries")
    assert row == [[payload, "o/r"]]


def test_a_wrong_secret_a_changed_body_or_no_signature_is_401_and_stores_nothing(hook: Hook) -> None:
    body = b'{"zen":"hello"}'
    refused = counted("ping", "bad_signature")
    assert hook.deliver("ping", body, secret="not-the-secret").status_code == 401
    changed = hook.deliver("ping", body + b" ", signature=sign(SECRET, body))
    assert changed.status_code == 401
    assert hook.deliver("ping", body, signature="").status_code == 401
    assert hook.deliver("ping", body, signature="sha1=" + "0" * 40).status_code == 401
    assert stored(hook.settings) == 0 and github_events(hook.settings) == []
    assert query(hook.settings, "SELECT count(*) FROM stream_log WHERE kind = 'delivery'") == [[0]]
    assert counted("ping", "bad_signature") == refused + 4


def test_a_body_over_the_limit_is_413_and_stores_nothing(make_settings: Callable[..., Settings]) -> None:
    h = Hook(make_settings(github_webhook_secret=SECRET, github_max_body_bytes=4096))
    try:
        body = json.dumps({"zen": "x" * 5000}).encode()
        assert h.deliver("ping", body).status_code == 413
        assert stored(h.settings) == 0
        assert h.deliver("ping", b'{"zen":"small"}').status_code == 200
        assert stored(h.settings) == 1
    finally:
        deps.close(h.app)


def test_a_signed_delivery_without_its_headers_or_json_is_400(hook: Hook) -> None:
    assert hook.deliver("", b"{}").status_code == 400
    assert hook.deliver("ping", b"not json").status_code == 400
    assert hook.deliver("ping", b"[1, 2]").status_code == 400
    assert stored(hook.settings) == 0


def test_the_webhook_refuses_to_start_without_a_secret(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="GITHUB_WEBHOOK_SECRET"):
        create_app(make_settings(), "webhook")


def test_deliveries_are_listed_by_event_and_repository_a_page_at_a_time(hook: Hook) -> None:
    for n in range(5):
        repo = "o/a" if n % 2 else "o/b"
        body = json.dumps({"action": "created", "repository": {"full_name": repo}, "n": n}).encode()
        assert hook.deliver("star" if n < 4 else "push", body, delivery=f"d{n}").status_code == 202
    c = hook.client
    assert c.get("/api/github/deliveries").status_code == 401
    page = c.get("/api/github/deliveries?event=star&limit=2", headers=AUTH).get_json()
    assert [d["id"] for d in page["deliveries"]] == ["d3", "d2"] and page["next_cursor"]
    rest = c.get(f"/api/github/deliveries?event=star&limit=2&cursor={page['next_cursor']}", headers=AUTH).get_json()
    assert [d["id"] for d in rest["deliveries"]] == ["d1", "d0"] and rest["next_cursor"] is None
    by_repo = c.get("/api/github/deliveries?repo=o/a", headers=AUTH).get_json()
    assert [d["id"] for d in by_repo["deliveries"]] == ["d3", "d1"]
    one = c.get("/api/github/deliveries/d4", headers=AUTH).get_json()
    assert one["event"] == "push" and one["payload"]["n"] == 4 and one["hook_id"] == "4242"
    assert c.get("/api/github/deliveries/nope", headers=AUTH).status_code == 404
    assert c.get("/api/github/deliveries?limit=0", headers=AUTH).status_code == 400


def test_a_delivery_is_searchable_and_announced_in_the_stream(hook: Hook) -> None:
    body = json.dumps(
        {
            "action": "completed",
            "repository": {"full_name": "o/r"},
            "check_run": {"name": "lint", "conclusion": "failure", "status": "completed"},
        }
    ).encode()
    assert hook.deliver("check_run", body, delivery="cr-1").status_code == 202
    api = create_app(hook.settings).test_client()
    try:
        found = api.get("/api/events?source=github&level=error", headers=AUTH).get_json()["events"]
        assert [e["message"] for e in found] == ["check_run completed o/r: lint failure"]
    finally:
        deps.close(api.application)
    from logpipe import db

    conn = db.connect(hook.settings)
    try:
        stream_db.sequence(conn)
        entries = [e for e in stream_db.entries_after(conn, 0) if e.kind == "delivery"]
        items = load(conn, entries[0]).items
    finally:
        conn.close()
    assert [i.kind for i in items] == ["delivery"]
    text = items[0].text.decode()
    assert "event: delivery\n" in text and '"id":"cr-1"' in text and '"level":"error"' in text


def test_the_live_stream_sends_a_delivery_as_it_is_stored(make_settings: Callable[..., Settings]) -> None:
    import requests

    from sse_client import Server, Stream

    s = make_settings(github_webhook_secret=SECRET, stream_heartbeat_s=1)
    server = Server(create_app(s, "stream", "webhook"))
    try:
        body = json.dumps(
            {
                "action": "completed",
                "repository": {"full_name": "o/r"},
                "workflow_job": {"name": "test", "conclusion": "failure"},
            }
        ).encode()
        headers = {
            "X-GitHub-Event": "workflow_job",
            "X-GitHub-Delivery": "wj-1",
            "X-Hub-Signature-256": sign(SECRET, body),
        }
        sent = requests.post(f"http://127.0.0.1:{server.port}/webhook/github", data=body, headers=headers, timeout=10)
        assert sent.status_code == 202, sent.text

        def messages(**params: str) -> list[tuple[str, Any]]:
            st = Stream(server.port, "/api/stream", params={"since": "0", **params}, headers=AUTH)
            got = []
            try:
                for msg in st:
                    if msg.event == "comment":
                        break  # a heartbeat: everything written was sent
                    got.append((msg.event, msg.json()))
            finally:
                st.close()
            return got

        everything = messages()
        assert [event for event, _ in everything] == ["log", "delivery"]
        log_event, delivery = everything[0][1], everything[1][1]
        assert (log_event["level"], log_event["source"]) == ("error", "github")
        assert log_event["message"] == "workflow_job completed o/r: test failure"
        assert (delivery["id"], delivery["event"], delivery["repository"], delivery["level"]) == (
            "wj-1",
            "workflow_job",
            "o/r",
            "error",
        )
        assert [event for event, _ in messages(source="github")] == ["log", "delivery"]
        assert messages(source="upload") == []
    finally:
        server.close()


def _delivery(delivery_id: str, payload_json: str = '{"zen": "ok"}') -> tuple[Any, Any]:
    from logpipe.db.github import DeliveryEvent, NewDelivery

    new = NewDelivery(delivery_id, "1", "ping", None, "octo-org/octo-repo", "octocat", payload_json)
    return new, DeliveryEvent("info", f"ping {delivery_id}", {"event": "ping"})


def _group_of(commit: Any, first: tuple[Any, Any], rest: list[tuple[Any, Any]]) -> list[Any]:
    """Record ``first`` (whose write is held until every one of ``rest`` is queued behind
    it), then ``rest`` from threads of their own; each one's outcome, stored or raised."""
    import threading
    import time

    outcomes: list[Any] = [None] * (1 + len(rest))

    def one(n: int, d: tuple[Any, Any]) -> None:
        try:
            outcomes[n] = commit.record(*d)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[n] = exc

    leader = threading.Thread(target=one, args=(0, first))
    leader.start()
    assert commit.writing_started.wait(30), "the first delivery was not written"
    others = [threading.Thread(target=one, args=(n + 1, d)) for n, d in enumerate(rest)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 30
    while commit.queued() < len(rest):  # every other delivery waits behind the first write
        assert time.monotonic() < deadline, f"only {commit.queued()} of {len(rest)} deliveries queued"
        time.sleep(0.01)
    commit.release.set()
    for t in [leader, *others]:
        t.join(30)
        assert not t.is_alive(), "a delivery was never answered"
    return outcomes


def _held_group_commit(pool: Any) -> Any:
    """A GroupCommit whose first write waits for its ``release``, so that a test can queue
    deliveries behind it and know that they form the next group."""
    import threading
    from contextlib import contextmanager

    from logpipe.github.webhook import GroupCommit

    writing_started, release = threading.Event(), threading.Event()
    held = [True]

    @contextmanager
    def conn() -> Iterator[Any]:
        if held[0]:
            held[0] = False
            writing_started.set()
            assert release.wait(30)
        with pool.get() as c:
            yield c

    commit = GroupCommit(conn)
    commit.writing_started, commit.release = writing_started, release  # type: ignore[attr-defined]
    commit.queued = lambda: len(commit._queue)  # type: ignore[attr-defined]
    return commit


def test_deliveries_that_arrive_together_share_one_commit_and_are_stored_once(
    make_settings: Callable[..., Settings],
) -> None:
    from logpipe.http.pool import Connections

    settings = make_settings(github_webhook_secret=SECRET)
    pool = Connections(settings)
    try:
        commit = _held_group_commit(pool)
        rest = [_delivery(f"group-{n}") for n in range(1, 40)] + [_delivery("group-7"), _delivery("group-0")]
        outcomes = _group_of(commit, _delivery("group-0"), rest)
        assert all(not isinstance(o, Exception) for o in outcomes), outcomes
        assert commit.groups == 2  # the first alone, then the 41 that waited behind it
        ids = ["group-0"] + [d.delivery_id for d, _ in rest]
        firsts = {i: ids.index(i) for i in ids}
        for n, (i, o) in enumerate(zip(ids, outcomes, strict=True)):
            assert (o is not None) == (firsts[i] == n), (n, i, o)  # a redelivery is answered None
            if o is not None:
                assert o["id"] == i
        assert stored(settings) == 40
        rows = query(
            settings, "SELECT count(*), count(DISTINCT fields->>'delivery_id') FROM events WHERE source = 'github'"
        )
        assert rows[0] == [40, 40]
        entries = query(settings, "SELECT count(*) FROM stream_log WHERE kind = 'delivery'")[0][0]
        assert entries == 40
    finally:
        pool.close()


def test_one_bad_delivery_in_a_group_fails_alone(make_settings: Callable[..., Settings]) -> None:
    import pg8000.native

    from logpipe.http.pool import Connections

    settings = make_settings(github_webhook_secret=SECRET)
    pool = Connections(settings)
    try:
        commit = _held_group_commit(pool)
        rest = [_delivery(f"ok-{n}") for n in range(1, 20)]
        rest.insert(7, _delivery("bad", payload_json='{"not": json'))
        outcomes = _group_of(commit, _delivery("ok-0"), rest)
        ids = ["ok-0"] + [d.delivery_id for d, _ in rest]
        bad = ids.index("bad")
        assert isinstance(outcomes[bad], pg8000.native.DatabaseError), outcomes[bad]
        assert all(isinstance(o, dict) for n, o in enumerate(outcomes) if n != bad), outcomes
        assert stored(settings) == 20
        assert query(settings, "SELECT count(*) FROM github_deliveries WHERE delivery_id = 'bad'")[0][0] == 0
        assert query(settings, "SELECT count(*) FROM events WHERE source = 'github'")[0][0] == 20
    finally:
        pool.close()
