"""Limits on what a file may expand to (a gzip bomb: a few MB that hold many GB): the file
fails saying which limit it reached, and keeps every line read before it, once."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable

import pytest

from logpipe.storage.gunzip import GunzipReader, InputLimitError, Limits

from conftest import EVERY_READ, Api, pump, query

services = pytest.mark.services

LINE = b"2026-11-27 03:13:14,123 INFO the same line again and again\n"


def _bomb(text_bytes: int) -> bytes:
    """Gzip of ``text_bytes`` of one line repeated, compressed as hard as zlib can."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = LINE * (1 << 14)
    out, made = [], 0
    while made < text_bytes:
        out.append(z.compress(block))
        made += len(block)
    out.append(z.flush())
    return b"".join(out)


def _check_kept(api: Api, file_id: str) -> int:
    """Every line kept is there once, numbered from 1 without a gap; how many."""
    rows = query(
        api.settings,
        "SELECT min(line), max(line), count(*), count(DISTINCT line) FROM events WHERE file_id = CAST(:f AS uuid)",
        f=file_id,
    )[0]
    assert rows[0] == 1 and rows[1] == rows[2] == rows[3], rows
    return int(rows[2])


@services
def test_gzip_bomb_fails_at_the_decompressed_bytes_limit_keeping_what_came_before(
    make_api: Callable[..., Api],
) -> None:
    limit = 1024 * 1024
    api = make_api(max_decompressed_bytes=limit)
    data = _bomb(64 * limit)  # 64 MiB of text in well under 1 MiB of gzip
    file_id = api.upload("bomb.log.gz", data)
    pump(api.settings)
    f = api.file(file_id)
    assert f["status"] == "failed" and "LOGPIPE_MAX_DECOMPRESSED_BYTES" in f["error"], f
    assert query(api.settings, "SELECT failure FROM files WHERE id = CAST(:f AS uuid)", f=file_id)[0][0] == "content"
    kept = _check_kept(api, file_id)
    assert kept == f["lines"] == f["events"] == limit // len(LINE)  # every whole line before the limit


@services
@EVERY_READ
def test_file_fails_at_the_lines_limit_keeping_the_lines_before(
    make_api: Callable[..., Api], compress: bool, lane: bool
) -> None:
    api = make_api(max_file_lines=1000, chunk_bytes=16 * 1024, compiled_lane=lane)
    data = b"".join(b"2026-11-27 03:13:14,123 INFO line %05d\n" % n for n in range(1, 3001))
    file_id = api.upload("many.log", gzip.compress(data) if compress else data)
    pump(api.settings)
    f = api.file(file_id)
    assert f["status"] == "failed" and "LOGPIPE_MAX_FILE_LINES" in f["error"], f
    assert _check_kept(api, file_id) == 1000 == f["events"]


def test_gunzip_ratio_limit_stops_a_bomb_after_the_text_it_allows() -> None:
    data = _bomb(8 * 1024 * 1024)
    r = GunzipReader(io.BytesIO(data).read, Limits(max_bytes=1 << 40, max_ratio=50, ratio_after=1024 * 1024))
    got = 0
    with pytest.raises(InputLimitError, match="LOGPIPE_MAX_GZIP_RATIO"):
        while True:
            chunk = r.read(64 * 1024)
            assert chunk, "the bomb was read to its end"
            got += len(chunk)
    assert 1024 * 1024 < got < 8 * 1024 * 1024


def test_gunzip_limits_leave_an_ordinary_log_alone() -> None:
    text = b"".join(
        b"2026-11-27 03:13:14,%03d INFO request %d took %d ms\n" % (n % 1000, n, n * 7 % 911) for n in range(200_000)
    )
    r = GunzipReader(io.BytesIO(gzip.compress(text)).read, Limits(max_bytes=len(text), max_ratio=20, ratio_after=1024))
    out = b""
    while chunk := r.read(1 << 20):
        out += chunk
    assert out == text
