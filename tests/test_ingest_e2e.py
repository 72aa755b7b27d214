"""Upload through the API, straight to the bucket, parsed from the queue into Postgres."""

from __future__ import annotations

import gzip
import json

from conftest import MIXED, Api, pump, query


def test_upload_is_parsed_into_events(api: Api) -> None:
    file_id = api.upload("app.log", MIXED)
    assert api.file(file_id)["status"] in ("awaiting_upload", "queued")
    pump(api.settings)
    f = api.file(file_id)
    assert (f["status"], f["lines"], f["events"], f["errors"]) == ("done", 4, 4, 1)
    rows = query(
        api.settings,
        "SELECT line, level, format, message, fields, ts_inferred,"
        " to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
        " FROM events WHERE file_id = CAST(:f AS uuid) ORDER BY line",
        f=file_id,
    )
    assert [r[:4] for r in rows] == [
        [1, "error", "app", "something broke"],
        [2, "info", "json", "hello"],
        [3, "warn", "logfmt", "logfmt line"],
        [4, None, "text", "no timestamp here"],
    ]
    assert rows[1][4]["user"] == {"id": 7}
    assert rows[0][6] == "2026-11-27 03:13:14"
    assert [r[5] for r in rows] == [False, False, False, True]


def test_redelivered_messages_add_no_rows(api: Api) -> None:
    file_id = api.upload("twice.log", MIXED * 100)
    pump(api.settings)
    key = query(api.settings, "SELECT object_key FROM files WHERE id = CAST(:f AS uuid)", f=file_id)[0][0]
    from logpipe.ingest import chunk_message, s3_event
    from logpipe.queue import ingest_queue

    q = ingest_queue(api.settings)
    q.send([s3_event(api.settings.bucket, key), chunk_message(file_id, 0), chunk_message(file_id, 0)])
    pump(api.settings)
    assert query(api.settings, "SELECT count(*) FROM events WHERE file_id = CAST(:f AS uuid)", f=file_id)[0][0] == 400
    assert api.file(file_id)["events"] == 400


def test_large_file_is_split_into_chunks_with_exact_line_numbers(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(chunk_bytes=4096, batch_rows=50)
    settings = api.settings
    lines = [f"2026-11-27T00:00:{i % 60:02d}Z INFO line number {i + 1}".encode() for i in range(3000)]
    file_id = api.upload("big.log", b"\n".join(lines) + b"\n")
    pump(settings)
    f = api.file(file_id)
    assert (f["status"], f["lines"], f["events"]) == ("done", 3000, 3000)
    chunks = query(settings, "SELECT count(*) FROM chunks WHERE file_id = CAST(:f AS uuid)", f=file_id)[0][0]
    assert chunks > 10
    rows = query(
        settings,
        "SELECT count(*), count(DISTINCT line), min(line), max(line), "
        "bool_and(message = 'line number ' || line) FROM events WHERE file_id = CAST(:f AS uuid)",
        f=file_id,
    )
    assert rows[0] == [3000, 3000, 1, 3000, True]


def test_gzip_is_detected_by_content_not_name(api: Api) -> None:
    data = gzip.compress(b"".join(b'{"level":"error","msg":"m%d"}\n' % i for i in range(1000)))
    file_id = api.upload("no-extension", data)
    pump(api.settings)
    f = api.file(file_id)
    assert (f["status"], f["lines"], f["errors"]) == ("done", 1000, 1000)


def test_object_copied_into_bucket_without_presign_is_processed(api: Api) -> None:
    from logpipe.aws import client

    client("s3", api.settings).put_object(Bucket=api.settings.bucket, Key="copied/some file+x.log", Body=MIXED)
    pump(api.settings)
    files = api.get("/api/files").get_json()["files"]
    assert [(f["name"], f["status"], f["events"]) for f in files] == [("copied/some file+x.log", "done", 4)]


def test_multipart_upload(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(multipart_threshold=5 * 1024 * 1024, multipart_part_bytes=5 * 1024 * 1024)
    settings = api.settings
    data = b"".join(b"2026-11-27T00:00:00Z WARN multipart line %07d\n" % i for i in range(300_000))
    assert len(data) > 10 * 1024 * 1024
    file_id = api.upload("multi.log", data)
    pump(settings)
    f = api.file(file_id)
    assert (f["status"], f["lines"], f["size"]) == ("done", 300_000, len(data))


def test_parse_command_prints_json_lines(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from logpipe_local.cli import main

    path = tmp_path / "x.log"
    path.write_bytes(MIXED)
    assert main(["parse", str(path)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["line"], e["level"], e["format"]) for e in events] == [
        (1, "error", "app"),
        (2, "info", "json"),
        (3, "warn", "logfmt"),
        (4, None, "text"),
    ]


def test_parse_command_joins_multiline_events_and_reads_gzip(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from logpipe_local.cli import main

    text = b"2026-01-01 10:00:00 ERROR x\nTraceback (most recent call last):\n"
    text += b'  File "a", line 1\nValueError: v\nplain\n'
    path = tmp_path / "tb.bin"
    path.write_bytes(gzip.compress(text))
    assert main(["parse", "--timezone", "Europe/Paris", str(path)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["line"], e.get("line_count", 1), e["level"]) for e in events] == [(1, 4, "error"), (5, 1, None)]
    assert events[0]["ts"] == "2026-01-01T09:00:00+00:00"
    assert main(["parse", "--timezone", "Mars/Olympus", str(path)]) == 2
