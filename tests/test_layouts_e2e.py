"""Inferred layouts through the pipeline: stored with the file, shown by the API, forced by an upload."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC

import pytest
import requests
from log_layouts import LAYOUTS, generate

from conftest import Api, pump

pytestmark = pytest.mark.services

MARIADB = next(lay for lay in LAYOUTS if lay.name == "mariadb")


_COLUMNS = "line, ts, ts_inferred, level, format, message, fields"


def test_a_file_no_format_reads_is_read_with_its_inferred_layout_in_every_chunk(make_api: Callable[..., Api]) -> None:
    truth = generate(MARIADB, 1500)
    data = ("\n".join(t.line for t in truth) + "\n").encode()
    api = make_api(chunk_bytes=16384)  # several chunks, each reading with the file's layout
    file_id = api.upload("mariadb.err", data)
    pump(api.settings)
    f = api.file(file_id)
    assert f["status"] == "done"
    layout = f["layout"]
    assert layout["source"] == "inferred"
    assert [c["name"] for c in layout["columns"]] == ["time", "pid", "level", "component"]
    assert "<time:ymd>" in layout["reads_as"]
    rows = api.events(file_id, _COLUMNS)
    assert len(rows) == len(truth)
    for row, t in zip(rows, truth, strict=True):
        fields = row[6] if isinstance(row[6], dict) else json.loads(row[6])
        assert (row[1].astimezone(UTC), row[2], row[3], row[4], row[5]) == (t.ts, False, t.level, "layout", t.message)
        assert set(fields) == {"pid", "component"}


def test_an_upload_can_force_a_layout_and_a_bad_one_is_refused_saying_what_is_wrong(api: Api) -> None:
    r = api.post("/api/uploads", json={"filename": "x.log", "size": 10, "layout": {"columns": [{"name": "time"}]}})
    assert r.status_code == 400 and "layout" in r.get_json()["error"] and "shape" in r.get_json()["error"]
    both = {"filename": "x.log", "size": 10, "format": "app", "layout": {"columns": [{"name": "x", "shape": "word"}]}}
    r = api.post("/api/uploads", json=both)
    assert r.status_code == 400 and "not both" in r.get_json()["error"]

    # Lines a known format reads as its own; the forced layout reads them instead.
    data = b"2026-07-01 12:00:00 WARN web-1 naive local time\n2026-07-01 12:00:01 INFO web-2 second\n"
    layout = {
        "columns": [
            {"name": "time", "shape": "ymd"},
            {"name": "level", "shape": "word"},
            {"name": "node", "shape": "word"},
        ]
    }
    created = api.post("/api/uploads", json={"filename": "forced.log", "size": len(data), "layout": layout}).get_json()
    up = created["upload"]
    assert requests.post(up["url"], data=up["fields"], files={"file": ("f", data)}, timeout=30).status_code == 204
    pump(api.settings)
    f = api.file(created["file_id"])
    assert f["layout"]["source"] == "forced" and f["layout"]["columns"][2]["name"] == "node"
    rows = api.events(created["file_id"], _COLUMNS)
    assert [(r[3], r[4], r[5]) for r in rows] == [("warn", "layout", "naive local time"), ("info", "layout", "second")]
    assert [r[6] if isinstance(r[6], dict) else json.loads(r[6]) for r in rows] == [
        {"node": "web-1"},
        {"node": "web-2"},
    ]


def test_a_file_the_known_formats_read_gets_no_layout(api: Api) -> None:
    data = "".join(f"Nov 30 10:00:{s:02d} web-1 sshd[{100 + s}]: Accepted key for u{s}\n" for s in range(40)).encode()
    file_id = api.upload("auth.log", data)
    pump(api.settings)
    f = api.file(file_id)
    assert f["status"] == "done" and f["layout"] is None
    assert {r[4] for r in api.events(file_id, _COLUMNS)} == {"syslog3164"}


def test_a_layout_that_changes_halfway_is_followed_in_every_chunk(make_api: Callable[..., Api]) -> None:
    first = generate(MARIADB, 800)
    second = generate(next(lay for lay in LAYOUTS if lay.name == "loguru"), 800)
    data = ("\n".join(t.line for t in first + second) + "\n").encode()
    api = make_api(chunk_bytes=16384)
    file_id = api.upload("changed.log", data)
    pump(api.settings)
    assert api.file(file_id)["status"] == "done"
    rows = api.events(file_id, _COLUMNS)
    assert len(rows) == len(first) + len(second)
    # The first half as its layout reads it; the second as the layout inferred again reads it,
    # but for the few lines at the start of each chunk before it adapts.
    assert all(r[4] == "layout" and r[5] == t.message for r, t in zip(rows, first, strict=False))
    late = [r[5] == t.message and r[3] == t.level for r, t in zip(rows[len(first) :], second, strict=True)]
    assert sum(late) >= 0.9 * len(second)
