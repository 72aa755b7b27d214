"""Inputs a careless or hostile client sends: each gets a 4xx with a JSON error, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from conftest import Api

pytestmark = pytest.mark.services


def _multipart(api: Api) -> tuple[str, dict[str, Any]]:
    size = api.settings.multipart_threshold + 1
    r = api.post("/api/uploads", json={"filename": "big.log", "size": size})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["file_id"], r.get_json()["upload"]


BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("[ nested 100,000 deep", "/api/uploads", {"data": "[" * 100_000, "content_type": "application/json"}),
    ("{ nested 100,000 deep", "/api/uploads", {"data": '{"a":' * 100_000, "content_type": "application/json"}),
    ("NUL in content_type", "/api/uploads", {"json": {"filename": "a", "size": 1, "content_type": "a\x00b"}}),
    ("a long timezone", "/api/uploads", {"json": {"filename": "a", "size": 1, "timezone": "x" * 300}}),
    ("a timezone that is a folder", "/api/uploads", {"json": {"filename": "a", "size": 1, "timezone": "Europe"}}),
    (
        "a timezone that climbs out",
        "/api/uploads",
        {"json": {"filename": "a", "size": 1, "timezone": "../../etc/passwd"}},
    ),
    ("an offset that is no offset", "/api/uploads", {"json": {"filename": "a", "size": 1, "timezone": "+ab:cd"}}),
    ("not JSON", "/api/uploads", {"data": b"\xff\xfe", "content_type": "application/json"}),
    ("a JSON list", "/api/uploads", {"json": [1, 2]}),
]

BAD_QUERIES = [
    "/api/files?before=garbage",
    "/api/files?before=2026-W01",
    "/api/files?limit=1e9",
    "/api/files?before=%00",
    "/api/files/not-a-uuid",
    "/api/patterns?from=2026-W01",
    "/api/patterns?to=garbage",
    "/api/patterns?from=20000-01-01",
    "/api/events?from=2026-W01",
    "/api/histogram?from=2026-W01",
    "/api/rollups?from=2026-W01",
    "/api/events/garbage",
]


@pytest.mark.parametrize(("what", "path", "kw"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_a_bad_body_is_a_400_with_a_json_error(api: Api, what: str, path: str, kw: dict[str, Any]) -> None:
    r = api.post(path, **kw)
    assert r.status_code == 400, (what, r.status_code, r.get_data()[:300])
    assert isinstance(r.get_json()["error"], str)


@pytest.mark.parametrize("path", BAD_QUERIES)
def test_a_bad_query_is_a_4xx_with_a_json_error(api: Api, path: str) -> None:
    r = api.get(path)
    assert r.status_code in (400, 404), (path, r.status_code, r.get_data()[:300])
    assert isinstance(r.get_json()["error"], str)


def test_a_body_over_the_limit_is_a_413_with_a_json_error(api: Api) -> None:
    body = json.dumps({"filename": "a", "size": 1, "pad": "x" * (2 * 1024 * 1024)})
    r = api.post("/api/uploads", data=body, content_type="application/json")
    assert r.status_code == 413
    assert "bytes" in r.get_json()["error"]


@pytest.mark.parametrize(
    "parts",
    [
        [{"part_number": 1, "etag": "bogus"}],
        [{"part_number": 1, "etag": '"' + "0" * 32 + '"'}],
        [{"part_number": 0, "etag": '"' + "0" * 32 + '"'}],
        [{"part_number": 10_001, "etag": '"' + "0" * 32 + '"'}],
        [{"part_number": "x", "etag": "y"}],
        "not a list",
    ],
)
def test_a_bogus_etag_on_complete_is_a_400(api: Api, parts: Any) -> None:
    file_id, up = _multipart(api)
    sent = requests.put(up["parts"][0]["url"], data=b"x" * 10, timeout=60)
    assert sent.status_code == 200
    r = api.post(f"/api/uploads/{file_id}/complete", json={"parts": parts})
    assert r.status_code == 400, (r.status_code, r.get_json())
    assert isinstance(r.get_json()["error"], str)
    assert api.file(file_id)["status"] == "awaiting_upload"  # nothing was completed; the client may try again


def test_complete_twice_says_the_same_thing(api: Api) -> None:
    file_id, up = _multipart(api)
    etags = []
    for part in up["parts"][:1]:
        sent = requests.put(part["url"], data=b"line\n" * 10, timeout=60)
        etags.append({"part_number": part["part_number"], "etag": sent.headers["ETag"]})
    first = api.post(f"/api/uploads/{file_id}/complete", json={"parts": etags})
    assert first.status_code == 202, first.get_json()
    again = api.post(f"/api/uploads/{file_id}/complete", json={"parts": etags})
    assert again.status_code in (200, 202), again.get_json()
    assert again.get_json()["id"] == file_id


def test_complete_of_a_single_post_upload_is_a_clear_409(api: Api) -> None:
    r = api.post("/api/uploads", json={"filename": "small.log", "size": 5})
    file_id = r.get_json()["file_id"]
    r = api.post(f"/api/uploads/{file_id}/complete", json={})
    assert r.status_code == 409
    assert "single POST" in r.get_json()["error"]
