"""What the parsing issue promises, end to end: multi-line events through chunked files,
per-source options, and patterns with their counts."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import requests

from conftest import Api, pump, query

pytestmark = pytest.mark.services


def _app_log(n: int, seed: int = 7) -> bytes:
    """A log with Python tracebacks, Java exceptions and Go panics among ordinary lines."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        t = f"2026-03-01 10:{i // 60 % 60:02d}:{i % 60:02d},{i % 1000:03d}"
        r = rnd.random()
        if r < 0.08:
            out.append(
                f"{t} ERROR billing: charge {i} failed\n"
                "Traceback (most recent call last):\n"
                '  File "billing.py", line 42, in charge\n'
                "    gateway.post(card)\n"
                f"ValueError: card {i} declined\n"
            )
        elif r < 0.14:
            out.append(
                f"{t} ERROR [main] com.acme.Api: request {i} failed\n"
                "com.acme.GatewayException: timeout\n"
                "\tat com.acme.Gateway.call(Gateway.java:88)\n"
                "Caused by: java.net.SocketTimeoutException: read timed out\n"
                "\t... 12 more\n"
            )
        elif r < 0.16:
            out.append(f"panic: worker {i} crashed\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:8 +0x1d\n")
        else:
            out.append(f"{t} INFO [main] com.acme.Api: request {i} served in {rnd.randint(1, 900)}ms\n")
    return "".join(out).encode()


_COLUMNS = "line, line_count, level, format, message, pattern_id"


def test_chunk_boundaries_never_split_an_event_differently(make_api: Callable[..., Api]) -> None:
    data = _app_log(3000)
    whole = make_api()  # one chunk: a single pass
    split = make_api(chunk_bytes=2048, batch_rows=37)  # ~150 chunks, batches inside events' neighbourhood
    one = whole.upload("app.log", data)
    many = split.upload("app.log", data)
    pump(whole.settings)
    pump(split.settings)
    chunks = query(split.settings, "SELECT count(*) FROM chunks WHERE file_id = CAST(:f AS uuid)", f=many)[0][0]
    assert chunks > 50
    single, chunked = whole.events(one, _COLUMNS), split.events(many, _COLUMNS)
    assert [r[:5] for r in chunked] == [r[:5] for r in single]
    assert split.file(many)["lines"] == whole.file(one)["lines"] == data.count(b"\n")
    kinds = {(r[1], r[3]) for r in single}
    assert {(5, "app"), (5, "text")} <= kinds  # tracebacks and Java exceptions, Go panics (5 lines each)
    assert sum(r[1] for r in single) == data.count(b"\n")  # every line belongs to exactly one event


def test_per_source_format_and_timezone(api: Api) -> None:
    r = api.post(
        "/api/uploads",
        json={"filename": "paris.log", "size": 10, "format": "apache_access", "timezone": "Mars/Olympus"},
    )
    assert r.status_code == 400 and "timezone" in r.get_json()["error"]
    r = api.post("/api/uploads", json={"filename": "x.log", "size": 10, "format": "yaml"})
    assert r.status_code == 400 and "format" in r.get_json()["error"]

    data = b"2026-07-01 12:00:00 WARN naive local time\nkey=value other=thing\n"
    created = api.post(
        "/api/uploads", json={"filename": "paris.log", "size": len(data), "format": "app", "timezone": "Europe/Paris"}
    ).get_json()
    up = created["upload"]
    assert requests.post(up["url"], data=up["fields"], files={"file": ("f", data)}, timeout=30).status_code == 204
    pump(api.settings)
    f = api.file(created["file_id"])
    assert (f["status"], f["format"], f["timezone"]) == ("done", "app", "Europe/Paris")
    rows = query(
        api.settings,
        "SELECT line, format, to_char(ts AT TIME ZONE 'UTC', 'HH24:MI'), ts_inferred FROM events "
        "WHERE file_id = CAST(:f AS uuid) ORDER BY line",
        f=created["file_id"],
    )
    # 12:00 in Paris in July is 10:00 UTC; the forced format leaves a logfmt line as text.
    assert [r[:2] for r in rows] == [[1, "app"], [2, "text"]]
    assert rows[0][2] == "10:00"


def test_patterns_have_counts_and_are_served_top_first(make_api: Callable[..., Api]) -> None:
    api = make_api(chunk_bytes=4096)
    lines = []
    for i in range(600):
        lines.append(f"2026-03-01T10:00:{i % 60:02d}Z INFO user {1000 + i} logged in from 10.0.{i % 250}.{i % 7}")
        if i % 3 == 0:
            lines.append(f"2026-03-01T11:00:{i % 60:02d}Z ERROR payment {i} failed after {i % 40}ms")
    file_id = api.upload("patterns.log", ("\n".join(lines) + "\n").encode())
    pump(api.settings)
    rows = api.events(file_id, _COLUMNS)
    by_kind: dict[str, set[str]] = {}
    for r in rows:
        by_kind.setdefault(r[4].split()[0], set()).add(r[5])
    assert len(by_kind["user"]) == 1 and len(by_kind["payment"]) == 1  # one pattern each, across workers' chunks
    login, payment = by_kind["user"].pop(), by_kind["payment"].pop()

    top = api.get("/api/patterns").get_json()["patterns"]
    assert [(p["id"], p["count"]) for p in top[:2]] == [(login, 600), (payment, 200)]
    assert "<*>" in top[0]["template"] and top[0]["template"].startswith("user")
    assert top[1]["first_seen"].startswith("2026-03-01T11:00:00") and top[1]["sample"].startswith("payment ")

    errors = api.get(f"/api/patterns?file_id={file_id}&level=error").get_json()["patterns"]
    assert [(p["id"], p["count"]) for p in errors] == [(payment, 200)]
    window = api.get("/api/patterns?from=2026-03-01T10:00:00Z&to=2026-03-01T10:00:30Z").get_json()["patterns"]
    assert [(p["id"], p["count"]) for p in window] == [(login, 300)]
    assert api.get("/api/patterns?level=loud").status_code == 400
    assert api.get("/api/patterns?from=yesterday").status_code == 400

    # Redelivery adds no count: the counts move with the events, in one transaction.
    from logpipe.ingest import chunk_message
    from logpipe.queue import ingest_queue

    ingest_queue(api.settings).send([chunk_message(file_id, 0), chunk_message(file_id, 1)])
    pump(api.settings)
    again = api.get("/api/patterns").get_json()["patterns"]
    assert [(p["id"], p["count"]) for p in again[:2]] == [(login, 600), (payment, 200)]


def test_new_patterns_of_a_file_are_those_another_file_lacks(make_api: Callable[..., Api]) -> None:
    """A run's log compared with the last good one: only the templates the good one never had,
    counted in the new run, with a sample from it."""
    api = make_api()
    good = [f"2026-03-01T10:00:{i % 60:02d}Z INFO user {i} logged in" for i in range(50)]
    bad = good + [f"2026-03-01T10:01:{i % 60:02d}Z ERROR disk {i} full on /var" for i in range(7)]
    good_id = api.upload("good.log", ("\n".join(good) + "\n").encode())
    bad_id = api.upload("bad.log", ("\n".join(bad) + "\n").encode())
    pump(api.settings)
    new = api.get(f"/api/patterns/new?file_id={bad_id}&base={good_id}").get_json()
    assert [(p["count"], p["sample"]) for p in new["patterns"]] == [(7, "disk 0 full on /var")]
    assert "<*>" in new["patterns"][0]["template"]
    assert api.get(f"/api/patterns/new?file_id={good_id}&base={bad_id}").get_json()["patterns"] == []
    assert api.get(f"/api/patterns/new?file_id={bad_id}").status_code == 400
    assert api.get(f"/api/patterns/new?file_id={bad_id}&base=nope").status_code == 400
    missing = "00000000-0000-0000-0000-000000000000"
    assert api.get(f"/api/patterns/new?file_id={bad_id}&base={missing}").status_code == 404


def test_a_new_worker_starts_from_the_templates_others_settled_on(make_api: Callable[..., Api]) -> None:
    """A worker that starts cold (a new process, a Lambda cold start) gives its first lines
    the template the others already generalised, not a template of its own."""
    api = make_api()
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    first = "".join(f"2026-03-01T10:00:{i:02d}Z INFO user {names[i % 8]} logged in\n" for i in range(40))
    first_id = api.upload("first.log", first.encode())
    pump(api.settings)  # one worker: its miner generalises the name after a few of them
    general = {r[5] for r in api.events(first_id, _COLUMNS)[-8:]}
    assert len(general) == 1
    (general_id,) = general
    template = query(api.settings, "SELECT template FROM patterns WHERE id = :i", i=general_id)[0][0]
    assert template == "user <*> logged in"

    later = "".join(f"2026-03-02T10:00:{i:02d}Z INFO user zed logged in\n" for i in range(3))
    later_id = api.upload("later.log", later.encode())
    pump(api.settings)  # another worker, with a fresh miner: one name alone would make no variable
    assert {r[5] for r in api.events(later_id, _COLUMNS)} == {general_id}


def test_events_given_a_template_before_it_generalised_count_for_what_it_became(
    make_api: Callable[..., Api],
) -> None:
    api = make_api()
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    data = "".join(f"2026-03-01T10:00:{i:02d}Z INFO user {names[i % 6]} logged in\n" for i in range(30))
    file_id = api.upload("names.log", data.encode())
    pump(api.settings)
    ids = [r[5] for r in api.events(file_id, _COLUMNS)]
    assert len(set(ids[:3])) == 3 and len(set(ids[3:])) == 1  # the first names came before the variable
    general = ids[-1]

    for path in ("/api/patterns", f"/api/patterns?file_id={file_id}", "/api/patterns?level=info"):
        top = api.get(path).get_json()["patterns"]
        assert [(p["id"], p["template"], p["count"]) for p in top] == [(general, "user <*> logged in", 30)], path
        assert top[0]["first_seen"].startswith("2026-03-01T10:00:00") and top[0]["sample"].startswith("user ")
