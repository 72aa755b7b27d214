"""Batches are capped by bytes as well as rows: memory follows a batch's bytes, and 5,000
rows of 60 KB lines would be 300 MB in one batch."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from logpipe.ingest import event_batches
from logpipe.parsing import LineReader
from logpipe.parsing.formats import Parser
from logpipe.parsing.multiline import Joiner
from logpipe.patterns import PatternMiner

from conftest import Api, pump, query

services = pytest.mark.services

FILE_ID = "00000000-0000-0000-0000-000000000001"


def _wide_lines(count: int, width: int) -> bytes:
    out = []
    for n in range(count):
        row = {"time": "2026-11-27T03:13:15Z", "level": "info", "msg": f"wide {n}", "pad": f"{n:08d}" * (width // 8)}
        out.append(json.dumps(row, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("width", [1000, 60_000])
def test_batches_end_at_their_byte_cap_whatever_the_width_of_the_lines(width: int) -> None:
    data = _wide_lines(300, width)
    cap = 512 * 1024
    lines = LineReader(io.BytesIO(data).read, max_line_bytes=64 * 1024).with_lane(None, first_line=1)
    events = Joiner(Parser().parse).events_and_runs(lines, first_line=1, start_offset=0)
    batches = list(event_batches(events, PatternMiner(), FILE_ID, datetime.now(UTC), 5000, 0, 1, None, batch_bytes=cap))
    sizes = [len(b.buf.payload()) for b in batches]
    assert sum(b.buf.rows for b in batches) == 300
    # Over the cap by at most the event that reached it (a row: its line, its fields, a little more).
    assert max(sizes) <= cap + 3 * width + 1024, sizes
    if width * 300 > 2 * cap:
        assert len(batches) >= (width * 300) // (cap + 3 * width)


@services
@pytest.mark.parametrize("lane", [True, False], ids=["compiled-lane", "python-path"])
def test_worker_commits_wide_gzip_lines_in_batches_bounded_by_bytes(make_api: Callable[..., Api], lane: bool) -> None:
    api = make_api(batch_bytes=256 * 1024, compiled_lane=lane)
    data = _wide_lines(200, 60_000)
    file_id = api.upload("wide.jsonl.gz", gzip.compress(data))
    pump(api.settings)
    f = api.file(file_id)
    assert (f["status"], f["lines"], f["events"]) == ("done", 200, 200)
    blocks = query(
        api.settings,
        "SELECT end_line - first_line FROM stream_log WHERE file_id = CAST(:f AS uuid) AND first_line IS NOT NULL",
        f=file_id,
    )
    rows = [r[0] for r in blocks]
    assert sum(rows) == 200
    assert max(rows) <= 256 * 1024 // 60_000 + 1, rows  # each commit within the cap, give or take one line
