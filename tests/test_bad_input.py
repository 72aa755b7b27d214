"""Bad input gets a clear answer and loses nothing: empty, binary, badly encoded, oversized,
damaged or misdeclared uploads, hostile file names, and malformed API requests."""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Callable
from typing import Any

import pytest

from logpipe.aws import client
from logpipe.ingest import Context
from logpipe.ingest.sweep import UPLOAD_GRACE_S, expire_uploads
from logpipe.parsing import Line, LineReader, looks_binary
from logpipe.storage.gunzip import DamagedInputError, GunzipReader

from conftest import Api, pump, query

services = pytest.mark.services


def events(api: Api, file_id: str) -> list[list[Any]]:
    """``[line, format, message, truncated, raw]`` of the file's events, in line order."""
    return api.events(file_id, "line, format, message, truncated, raw")


def json_rows(api: Api, file_id: str, fields: str = "fields") -> list[list[Any]]:
    """``[line, format, message, fields]`` of the file's events, in line order; ``fields``
    is how to select that column (``fields::text`` shows the stored JSON text)."""
    return api.events(file_id, f"line, format, message, {fields}")


def ingest(api: Api, name: str, data: bytes, declared: int | None = None) -> tuple[str, dict[str, Any]]:
    """Upload ``data`` as ``name``, let the pipeline run, and give the file's id and the file."""
    file_id = api.upload(name, data, declared)
    pump(api.settings)
    return file_id, api.file(file_id)


def failure(api: Api, file_id: str) -> Any:
    """Why the file failed, as the worker recorded it (``files.failure``)."""
    return query(api.settings, "SELECT failure FROM files WHERE id = CAST(:f AS uuid)", f=file_id)[0][0]


def object_key(api: Api, file_id: str) -> str:
    return str(query(api.settings, "SELECT object_key FROM files WHERE id = CAST(:f AS uuid)", f=file_id)[0][0])


# -- end to end: upload, queue, worker, Postgres ---------------------------------------------


@services
def test_empty_file_is_done_with_nothing_in_it(api: Api) -> None:
    file_id, f = ingest(api, "empty.log", b"")
    assert (f["status"], f["lines"], f["events"], f["error"]) == ("done", 0, 0, None)
    assert events(api, file_id) == []


@services
@pytest.mark.parametrize(
    "head",
    [b"", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\x7fELF\x02\x01\x01\x00" + bytes(8)],
    ids=["random", "png", "elf"],
)
def test_binary_file_fails_saying_so_and_stays_in_the_bucket(api: Api, head: bytes) -> None:
    data = head + os.urandom(32 * 1024)
    file_id, f = ingest(api, "picture.log", data)
    assert f["status"] == "failed"
    assert "binary" in f["error"] and not f["error"].startswith("dead-lettered")
    assert failure(api, file_id) == "content"
    assert (f["lines"], f["events"]) == (0, 0)
    assert events(api, file_id) == []
    kept = client("s3", api.settings).get_object(Bucket=api.settings.bucket, Key=object_key(api, file_id))
    assert kept["Body"].read() == data


@services
def test_invalid_utf8_becomes_replacement_character_and_line_is_kept(api: Api) -> None:
    data = b"first line is fine\ncaf\xe9 au lait \xff\xfe done\nlast line\n"
    file_id, f = ingest(api, "latin1.log", data)
    assert (f["status"], f["lines"], f["events"]) == ("done", 3, 3)
    assert [r[:3] for r in events(api, file_id)] == [
        [1, "text", "first line is fine"],
        [2, "text", "caf\ufffd au lait \ufffd\ufffd done"],
        [3, "text", "last line"],
    ]


@services
def test_byte_order_mark_is_dropped_and_first_line_parses(api: Api) -> None:
    data = b'\xef\xbb\xbf{"level":"warn","msg":"after the BOM"}\nplain second\n'
    file_id, f = ingest(api, "bom.log", data)
    assert f["status"] == "done"
    rows = events(api, file_id)
    assert [r[:3] for r in rows] == [[1, "json", "after the BOM"], [2, "text", "plain second"]]
    assert "\ufeff" not in (rows[0][4] or "")


@services
def test_crlf_line_endings_leave_no_carriage_return(api: Api) -> None:
    data = b"one\r\n2026-11-27T00:00:00Z ERROR two\r\n\r\nkey=v other=w\r\nfive without newline"
    file_id, f = ingest(api, "windows.log", data)
    assert (f["status"], f["lines"], f["events"], f["errors"]) == ("done", 5, 5, 1)
    rows = events(api, file_id)
    assert [r[:3] for r in rows] == [
        [1, "text", "one"],
        [2, "app", "two"],
        [3, "text", ""],
        [4, "logfmt", "key=v other=w"],
        [5, "text", "five without newline"],
    ]
    assert not any("\r" in r[2] or "\r" in (r[4] or "") for r in rows)


@services
def test_20_mb_line_is_truncated_flagged_and_the_rest_still_parsed(api: Api) -> None:
    limit = api.settings.max_line_bytes
    # Multi-byte characters, so that a cut inside one would show as a replacement character.
    huge = "é".encode() * (10 * 1024 * 1024)
    assert len(huge) == 20 * 1024 * 1024
    after = [f"2026-11-27T00:00:{i:02d}Z INFO after {i}".encode() for i in range(3)]
    data = b"before\n" + huge + b"\n" + b"\n".join(after) + b"\n"
    file_id, f = ingest(api, "huge-line.log", data)
    assert (f["status"], f["lines"], f["events"], f["truncated_lines"]) == ("done", 5, 5, 1)
    rows = events(api, file_id)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert [r[3] for r in rows] == [False, True, False, False, False]
    kept = rows[1][2]
    assert limit - 1 <= len(kept.encode()) <= limit
    assert set(kept) == {"é"}
    assert [r[2] for r in rows[2:]] == ["after 0", "after 1", "after 2"]
    assert rows[0][2] == "before"


@services
def test_truncated_gzip_fails_naming_the_damage_and_keeps_what_came_before(api: Api) -> None:
    whole = gzip.compress(
        b"".join(
            b"2026-11-27T00:00:00Z INFO gzip line %06d %s\n" % (i, os.urandom(8).hex().encode()) for i in range(20_000)
        )
    )
    file_id, f = ingest(api, "cut.log.gz", whole[: len(whole) // 2])
    assert f["status"] == "failed"
    assert f["error"].startswith("gzip stream is truncated")
    assert failure(api, file_id) == "content"
    lines = [
        r[0]
        for r in query(
            api.settings, "SELECT line FROM events WHERE file_id = CAST(:f AS uuid) ORDER BY line", f=file_id
        )
    ]
    assert len(lines) > 0
    assert lines == list(range(1, len(lines) + 1))
    assert f["events"] == len(lines) < 20_000
    first = events(api, file_id)[0][2]
    assert first.startswith("gzip line 000000 ")


@services
def test_upload_larger_than_declared_is_refused_by_the_worker(api: Api) -> None:
    data = b"2026-11-27T00:00:00Z INFO more than promised\n" * 100
    file_id, f = ingest(api, "liar.log", data, declared=100)
    assert f["status"] == "failed"
    assert f"the uploaded object is {len(data)} bytes but 100 were declared" in f["error"]
    assert failure(api, file_id) == "upload"
    assert events(api, file_id) == []


@services
def test_upload_that_never_arrives_fails_once_its_links_expired(api: Api) -> None:
    settings = api.settings
    presigned = api.post("/api/uploads", json={"filename": "never.log", "size": 10}).get_json()["file_id"]
    late = api.post("/api/uploads", json={"filename": "late.log", "size": 10}).get_json()["file_id"]
    # Arrived, but its notification was lost: not failed (requeue_stalled sends it again).
    landed = api.post("/api/uploads", json={"filename": "landed.log", "size": 10}).get_json()["file_id"]
    client("s3", settings).put_object(Bucket=settings.bucket, Key=object_key(api, landed), Body=b"0123456789")
    query(
        settings,
        "UPDATE files SET created_at = now() - make_interval(secs => :age) WHERE id IN "
        "(CAST(:a AS uuid), CAST(:b AS uuid))",
        age=settings.presign_expiry_s + UPLOAD_GRACE_S + 60,
        a=presigned,
        b=landed,
    )
    ctx = Context(settings)
    try:
        assert expire_uploads(ctx) == 1
        assert expire_uploads(ctx) == 0  # once
    finally:
        ctx.close()
    f = api.file(presigned)
    assert f["status"] == "failed" and f["finished_at"] is not None
    assert "the upload never completed" in f["error"] and "upload the file again" in f["error"]
    assert failure(api, presigned) == "upload"
    assert api.file(late)["status"] == "awaiting_upload"  # its links are still good
    assert api.file(landed)["status"] == "awaiting_upload"


@services
@pytest.mark.parametrize("name", ["../../etc/passwd", "my log (1).txt", "журнал-日志.log", "a+b%20c?.log"])
def test_file_name_is_shown_as_given_and_never_used_as_the_key(api: Api, name: str) -> None:
    file_id, f = ingest(api, name, b"2026-11-27T00:00:00Z INFO named\n")
    assert (f["name"], f["status"], f["events"]) == (name, "done", 1)
    assert [x["name"] for x in api.get("/api/files").get_json()["files"]] == [name]
    key = object_key(api, file_id)
    assert key.startswith("uploads/")
    for part in re.split(r"[/.\s()+%?-]+", name):
        if len(part) >= 2:
            assert part not in key
    assert key.count("/") == 1
    assert not any(c in key for c in ". ()+%?")


@services
def test_nul_in_json_escape_and_raw_byte_is_stored_as_replacement(api: Api) -> None:
    data = (
        b'{"level":"info","msg":"nul \\u0000 inside","k\\u0000":"v\\u0000"}\n'
        b"plain line with a raw \x00 byte\n"
        b"a normal line\n"
    )
    file_id, f = ingest(api, "nul.log", data)
    assert (f["status"], f["lines"], f["events"], f["error"]) == ("done", 3, 3, None)
    rows = json_rows(api, file_id)
    assert [r[:3] for r in rows] == [
        [1, "json", "nul \ufffd inside"],
        [2, "text", "plain line with a raw \ufffd byte"],
        [3, "text", "a normal line"],
    ]
    assert rows[0][3]["k\ufffd"] == "v\ufffd"


@services
def test_json_beyond_the_standard_is_stored_without_loss(api: Api) -> None:
    """NaN and the infinities (Python writes them), lone surrogate escapes, integers beyond
    64 bits and nesting deeper than any decoder takes: each line is an event, no digit of a
    number is lost, and what JSON cannot hold is kept as text or U+FFFD."""
    big = "123456789012345678901234567890"
    deep = "[" * 5000 + "]" * 5000
    data = (
        '{"msg":"nan","v":NaN,"w":[Infinity,-Infinity]}\n'
        '{"msg":"lone \\ud800 surrogate","k":"\\udfff"}\n'
        f'{{"msg":"big","id":{big},"neg":-{big}}}\n'
        f'{{"msg":"deep","x":{deep}}}\n'
    ).encode()
    file_id, f = ingest(api, "json-edges.log", data)
    assert (f["status"], f["lines"], f["events"], f["error"]) == ("done", 4, 4, None)
    rows = json_rows(api, file_id, "fields::text")
    assert [r[:3] for r in rows[:3]] == [
        [1, "json", "nan"],
        [2, "json", "lone \ufffd surrogate"],
        [3, "json", "big"],
    ]
    assert rows[0][3] == '{"v": "NaN", "w": ["Infinity", "-Infinity"], "msg": "nan"}'
    assert '"k": "\ufffd"' in rows[1][3]
    assert f'"id": {big}' in rows[2][3] and f'"neg": -{big}' in rows[2][3]
    # Too deep for any decoder here: not JSON, so a text event that keeps the whole line.
    assert rows[3][:2] == [4, "text"] and rows[3][2].startswith('{"msg":"deep","x":[[[')


@services
def test_api_answers_bad_requests_with_json_errors(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic abc"}):
        for method, path in (("get", "/api/files"), ("post", "/api/uploads")):
            r = getattr(api, method)(path, headers=headers, json={"filename": "x", "size": 1})
            assert r.status_code == 401, (headers, path)
            assert isinstance(r.get_json()["error"], str) and r.get_json()["error"]

    def post(**kw: Any) -> tuple[int, str]:
        r = api.post("/api/uploads", **kw)
        return r.status_code, r.get_json()["error"]

    status, error = post(data="not json", content_type="application/json")
    assert status == 400 and "filename" in error
    status, error = post(data=b"\xff\xfe", content_type="text/plain")
    assert status == 400 and "filename" in error
    assert post(json=["a", "list"])[0] == 400
    for body, field in (
        ({"size": 10}, "filename"),
        ({"filename": "", "size": 10}, "filename"),
        ({"filename": 7, "size": 10}, "filename"),
        ({"filename": "x.log", "size": -1}, "size"),
        ({"filename": "x.log", "size": "10"}, "size"),
        ({"filename": "x.log", "size": 1.5}, "size"),
        ({"filename": "x.log", "size": True}, "size"),
        ({"filename": "x.log"}, "size"),
        ({"filename": "x.log", "size": 1, "content_type": 5}, "content_type"),
    ):
        status, error = post(json=body)
        assert status == 400, body
        assert f"'{field}'" in error, (body, error)
    assert query(api.settings, "SELECT count(*) FROM files")[0][0] == 0

    for path in ("/api/files/not-a-uuid", "/api/files/00000000-0000-0000-0000-000000000000", "/api/files/%00"):
        r = api.get(path)
        assert r.status_code == 404, path
        assert r.get_json()["error"]


# -- units: LineReader and GunzipReader --------------------------------------------------------


def pieces_reader(*pieces: bytes) -> Callable[[int], bytes]:
    """A ``read(n)`` that never returns more than what is left of the current piece, as a network stream may."""
    queue = [p for p in pieces if p]

    def read(n: int) -> bytes:
        if not queue:
            return b""
        head = queue[0]
        out, rest = head[:n], head[n:]
        if rest:
            queue[0] = rest
        else:
            queue.pop(0)
        return out

    return read


def read_lines(data: bytes, *, block: int, limit: int = 1024) -> list[Line]:
    return list(LineReader(io.BytesIO(data).read, max_line_bytes=limit, block=block))


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 64])
def test_line_reader_joins_lines_split_across_reads(block: int) -> None:
    data = b"alpha\r\nbravo charlie\n\ndelta\xe2\x82\xac euro\nlast"
    lines = read_lines(data, block=block)
    assert [(x.text, x.truncated) for x in lines] == [
        ("alpha", False),
        ("bravo charlie", False),
        ("", False),
        ("delta€ euro", False),
        ("last", False),
    ]
    assert [x.end_offset for x in lines] == [7, 21, 22, 36, len(data)]


@pytest.mark.parametrize("block", [1, 3, 4, 10, 4096])
def test_line_reader_truncation_never_leaves_half_a_character(block: int) -> None:
    # 9 bytes of "a", then 3-byte characters: a 10- or 11-byte cut lands inside one.
    long = b"a" * 9 + "€".encode() * 20
    data = b"short\n" + long + b"\n" + "ünïcödé".encode() * 3 + b"\nend\n"
    for limit in (9, 10, 11, 12):
        lines = read_lines(data, block=block, limit=limit)
        texts = [x.text for x in lines]
        assert len(lines) == 4, (limit, texts)
        assert [x.truncated for x in lines] == [False, True, True, False]
        assert not any("\ufffd" in t for t in texts), (limit, texts)
        assert texts[1] == "a" * 9 + "€" * ((limit - 9) // 3)
        assert len(texts[2].encode()) <= limit and "ünïcödé".startswith(texts[2][:7])
        assert texts[3] == "end"
        assert [x.end_offset for x in lines] == [6, 6 + len(long) + 1, len(data) - 4, len(data)]


def test_line_reader_line_of_exactly_the_limit_with_crlf_is_not_truncated() -> None:
    for block in (1, 4, 8, 9, 10, 4096):
        lines = read_lines(b"12345678\r\nnext\r\n", block=block, limit=8)
        assert [(x.text, x.truncated) for x in lines] == [("12345678", False), ("next", False)], block


@pytest.mark.parametrize(
    "pieces",
    [
        (b"\xef", b"\xbb", b"\xbf", b"first\nsecond\n"),
        (b"\xef\xbb", b"\xbffirst\nsecond\n"),
        (b"\xef", b"\xbb\xbffirst\n", b"second\n"),
        (b"\xef\xbb\xbf", b"first\nsecond\n"),
    ],
)
def test_line_reader_drops_bom_split_across_reads(pieces: tuple[bytes, ...]) -> None:
    lines = list(LineReader(pieces_reader(*pieces), max_line_bytes=64, block=1 << 20))
    assert [x.text for x in lines] == ["first", "second"]
    assert [x.end_offset for x in lines] == [9, 16]


def test_line_reader_keeps_a_bom_like_start_that_is_not_one_and_ignores_bom_mid_stream() -> None:
    assert [x.text for x in LineReader(pieces_reader(b"\xef", b"\xbbX\n"), max_line_bytes=64)] == ["\ufffdX"]
    later = list(LineReader(io.BytesIO(b"\xef\xbb\xbfx\n").read, max_line_bytes=64, offset=100))
    assert [x.text for x in later] == ["\ufeffx"]


def test_looks_binary_tells_logs_from_binaries() -> None:
    assert looks_binary(os.urandom(8192))
    assert looks_binary(bytes(8192))
    assert looks_binary(b"\x7fELF\x02\x01\x01\x00" + bytes(200) + b"text" * 10)
    assert looks_binary("a".encode("utf-16-le") * 100)
    assert not looks_binary(b"")
    assert not looks_binary(b"2026-11-27 INFO a line with one stray \x00 byte in it\n" * 3)
    assert not looks_binary("caf\u00e9 na\u00efve\n".encode("latin-1") * 50)
    assert not looks_binary(b"\x1b[31mred\x1b[0m\tcoloured\r\n" * 50)


def gzip_reader(data: bytes, *, n: int) -> bytes:
    r = GunzipReader(io.BytesIO(data).read)
    out = []
    while chunk := r.read(n):
        out.append(chunk)
    return b"".join(out)


@pytest.mark.parametrize("n", [1, 100, 65536, 1 << 20])
def test_gunzip_reads_every_member_of_a_concatenation(n: int) -> None:
    parts = [b"member one\n" * 1000, b"", os.urandom(300_000), b"member three\n"]
    data = b"".join(gzip.compress(p) for p in parts)
    assert gzip_reader(data, n=n) == b"".join(parts)


def test_gunzip_of_incompressible_data_larger_than_an_input_block() -> None:
    plain = os.urandom(700_000)
    assert gzip_reader(gzip.compress(plain, compresslevel=1), n=1 << 20) == plain


def test_gunzip_raises_damaged_input_on_a_corrupt_stream_after_returning_what_it_could() -> None:
    plain = b"".join(b"line %06d\n" % i for i in range(100_000))
    data = bytearray(gzip.compress(plain))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    r = GunzipReader(io.BytesIO(bytes(data)).read)
    got = bytearray()
    with pytest.raises(DamagedInputError, match="corrupt"):
        while chunk := r.read(1 << 20):
            got += chunk
    # Inflate can turn damaged input into wrong bytes before it notices: only the start is sure.
    assert len(got) > 100_000
    assert got[:100_000] == plain[:100_000]


def test_gunzip_raises_damaged_input_naming_truncation_after_returning_what_it_could() -> None:
    plain = b"".join(b"line %06d\n" % i for i in range(100_000))
    data = gzip.compress(plain)
    r = GunzipReader(io.BytesIO(data[: len(data) // 2]).read)
    got = bytearray()
    with pytest.raises(DamagedInputError, match="truncated"):
        while chunk := r.read(1 << 20):
            got += chunk
    assert 0 < len(got) < len(plain)
    assert plain.startswith(bytes(got))
    with pytest.raises(DamagedInputError, match="truncated"):
        r.read(1)  # it stays damaged


def test_gunzip_missing_only_the_trailer_is_truncated() -> None:
    data = gzip.compress(b"x" * 10_000)
    r = GunzipReader(io.BytesIO(data[:-4]).read)
    with pytest.raises(DamagedInputError, match="truncated"):
        while r.read(4096):
            pass


def test_gunzip_trailing_garbage_is_reported_as_corrupt() -> None:
    r = GunzipReader(io.BytesIO(gzip.compress(b"ok\n") + b"not gzip").read)
    assert r.read(10) == b"ok\n"
    with pytest.raises(DamagedInputError):
        r.read(10)
