"""Parse throughput in one process: bytes in, rows ready for COPY out, no database.

Three generated files of 1,000,000 lines each: Apache combined access logs, the mixed file
of the ingest benchmark (JSON, logfmt, text with and without timestamps), and JSON lines. Each is
read from disk and run through exactly what the parse-worker does to a chunk (line
splitting, format detection, multi-line joining, pattern mining, COPY encoding), timed as
lines/s and MiB/s. For scale, the same lines are also run through the regex alone and
through drain3's miner (drain3==0.9.11, default configuration), in the same run.

Published anchors (with I/O, on 2 vCPUs): Fluent Bit 20.5 MiB/s and Vector 13.2 MiB/s
parsing Apache common logs with a regex; Python Drain about 8.5k lines/s on Loghub-2.0.

    .venv/bin/python bench/parse_bench.py [--lines 1000000] [--skip-drain3]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

from logpipe.config import Settings  # noqa: E402
from logpipe.ingest import event_batches  # noqa: E402 - the worker's own per-chunk loop
from logpipe.ingest import lane as compiled_lane  # noqa: E402
from logpipe.ingest.lane import CompiledLane  # noqa: E402
from logpipe.parsing import LineReader  # noqa: E402
from logpipe.parsing.formats import Parser  # noqa: E402
from logpipe.parsing.multiline import Joiner  # noqa: E402
from logpipe.patterns import PatternMiner  # noqa: E402

MiB = 1024 * 1024
OUT = HERE / "out"

_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1",
    "curl/8.4.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
_PATHS = ("/", "/index.html", "/api/orders/{n}", "/static/app.{n}.js", "/images/p{n}.png", "/search?q=s{n}&page=2")
_STATUS = (200,) * 40 + (304,) * 5 + (301, 302, 400, 401, 403, 500, 502, 503) + (404,) * 4


def write_lines(
    path: Path, lines: int, seed: int, line: Callable[[random.Random, datetime], str], step_ms: int = 120
) -> int:
    """``lines`` lines of ``line(rnd, t)`` into ``path``, the time moving 0-``step_ms`` ms a
    line from 2026-11-01; deterministic for a seed. Returns the size in bytes."""
    rnd = random.Random(seed)
    t = datetime(2026, 11, 1, tzinfo=UTC)
    size = 0
    with open(path.with_suffix(".part"), "wb") as fh:
        for start in range(0, lines, 10_000):
            out = []
            for _ in range(min(10_000, lines - start)):
                t += timedelta(milliseconds=rnd.randint(0, step_ms))
                out.append(line(rnd, t))
            block = "".join(out).encode()
            fh.write(block)
            size += len(block)
    path.with_suffix(".part").rename(path)
    return size


def _apache_line(rnd: random.Random, t: datetime) -> str:
    ip = f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
    req = f"{rnd.choice(('GET', 'GET', 'GET', 'POST'))} {rnd.choice(_PATHS).format(n=rnd.randint(1, 99999))}"
    return (
        f'{ip} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "{req} HTTP/1.1" {rnd.choice(_STATUS)} '
        f'{rnd.randint(0, 60000)} "https://shop.example.com/" "{rnd.choice(_AGENTS)}"\n'
    )


def _json_line(rnd: random.Random, t: datetime) -> str:
    level = rnd.choice(("info",) * 6 + ("debug", "warn", "error"))
    msg = rnd.choice(generate.MESSAGES)
    return (
        f'{{"time":"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z","level":"{level}",'
        f'"service":"{rnd.choice(generate.SERVICES)}","msg":"{msg}","request_id":"{rnd.getrandbits(64):016x}",'
        f'"status":{rnd.choice(_STATUS)},"duration_ms":{rnd.randint(1, 9000) / 10},'
        f'"path":"{rnd.choice(_PATHS).format(n=rnd.randint(1, 99999))}"}}\n'
    )


def write_apache(path: Path, lines: int, seed: int = 1) -> int:
    """Apache combined lines, deterministic for a seed; returns the size in bytes."""
    return write_lines(path, lines, seed, _apache_line)


def write_json(path: Path, lines: int, seed: int = 1) -> int:
    """JSON lines as a service logs them (pino, zap, slog), deterministic for a seed."""
    return write_lines(path, lines, seed, _json_line)


def ensure(path: Path, make: object) -> Path:
    if not path.exists():
        print(f"  generating {path.name}", flush=True)
        make(path)  # type: ignore[operator]
    return path


def full_parse(path: Path, settings: Settings) -> tuple[int, int, float]:
    """(events, lines, seconds) of the parse-worker's own per-chunk work over the file,
    with the compiled lane when ``settings.compiled_lane`` and it is built, as the worker."""
    parser, miner = Parser(), PatternMiner()
    lane = CompiledLane.create(settings.compiled_lane, parser, miner, settings)
    t0 = time.perf_counter()
    events, lines = worker_loop(path, settings, parser, miner, lane)
    return events, lines, time.perf_counter() - t0


def worker_loop(
    path: Path, settings: Settings, parser: Parser, miner: PatternMiner, lane: CompiledLane | None
) -> tuple[int, int]:
    """(events, lines) of the parse-worker's per-chunk loop over the whole file, up to the
    bytes COPY would send."""
    joiner = Joiner(parser.parse, max_lines=settings.max_event_lines, max_bytes=settings.max_event_bytes)
    events = lines = 0
    with open(path, "rb") as fh:
        reader = LineReader(fh.read, max_line_bytes=settings.max_line_bytes)
        stream = joiner.events_and_runs(reader.with_lane(lane, first_line=1), first_line=1, start_offset=0)
        file_id, now = "00000000-0000-0000-0000-000000000000", datetime.now(UTC)
        for batch in event_batches(stream, miner, file_id, now, settings.batch_rows, 0, 1, lane):
            batch.buf.chunks()  # the bytes COPY would send
            events += batch.buf.rows
            lines = batch.next_line - 1
    return events, lines


def bare_regex(path: Path) -> float:
    """Seconds for the access-log regex alone with groupdict, the floor of any regex parser."""
    rx = re.compile(r'(?P<h>\S+) (?P<l>\S+) (?P<u>\S+) \[(?P<t>[^\]]+)\] "(?P<r>[^"]*)" (?P<s>\d{3}) (?P<b>\S+)'
                    r' "(?P<ref>[^"]*)" "(?P<ua>[^"]*)"')  # fmt: skip
    t0 = time.perf_counter()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = rx.match(line)
            if m is not None:
                m.groupdict()
    return time.perf_counter() - t0


def drain3_rate(path: Path, limit: int) -> tuple[int, float]:
    from drain3 import TemplateMiner

    logging.disable(logging.WARNING)
    miner = TemplateMiner()
    n = 0
    t0 = time.perf_counter()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            miner.add_log_message(line.rstrip("\n"))
            n += 1
            if n >= limit:
                break
    return n, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--drain3-lines", type=int, default=200_000, help="drain3 is slow: time it on this many lines")
    ap.add_argument("--skip-drain3", action="store_true")
    args = ap.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    settings = Settings.from_env()
    apache = ensure(OUT / f"apache-combined-{args.lines}.log", lambda p: write_apache(p, args.lines))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    mixed = ensure(
        OUT / f"mixed-v{generate.VERSION}-{args.lines}-seed1-{start:%Y%m}.log",
        lambda p: generate.write_plain(p, args.lines, 1, start),
    )

    json_lines = ensure(OUT / f"json-lines-{args.lines}.log", lambda p: write_json(p, args.lines))

    print(f"\nparse throughput, one process -- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores")  # fmt: skip
    print(f"{'file':<18}{'lines':>11}{'MiB':>9}{'lines/s':>12}{'MiB/s':>9}   what")
    python_only = replace(settings, compiled_lane=False)
    lane_note = "with the compiled lane" if compiled_lane.available() else "the compiled lane is NOT built"
    for name, path in (("apache combined", apache), ("mixed", mixed), ("json lines", json_lines)):
        size = path.stat().st_size
        events, lines, secs = full_parse(path, settings)
        print(f"{name:<18}{lines:>11,}{size / MiB:>9.1f}{lines / secs:>12,.0f}{size / MiB / secs:>9.1f}"
              f"   full parse into COPY rows ({events:,} events), {lane_note}")  # fmt: skip
        if name != "mixed":
            events, lines, secs = full_parse(path, python_only)
            print(f"{'':<18}{lines:>11,}{size / MiB:>9.1f}{lines / secs:>12,.0f}{size / MiB / secs:>9.1f}"
                  "   the same on the Python path alone")  # fmt: skip
        if name == "apache combined":
            secs = bare_regex(path)
            print(f"{'':<18}{lines:>11,}{size / MiB:>9.1f}{lines / secs:>12,.0f}{size / MiB / secs:>9.1f}"
                  "   the bare regex with groupdict, for scale")  # fmt: skip
        if not args.skip_drain3 and name != "json lines":
            n, secs = drain3_rate(path, args.drain3_lines)
            print(f"{'':<18}{n:>11,}{'':>9}{n / secs:>12,.0f}{'':>9}   drain3 (default config) on the same lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
