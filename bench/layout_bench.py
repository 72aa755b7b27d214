"""Parse throughput of files whose layout is inferred: no known format reads them.

One generated file per time family the layouts read (and one of tab-separated cells):
MariaDB error-log lines (``time pid [Level] Component: message``), a month-day time on a
12-hour clock (``Nov 1, 2026 10:00:00 PM host [Level] prog[pid]: message``), epoch seconds
and milliseconds, a compact time (``20261101100000``), a time of day alone (Logback's
example), glog/klog's ``I1101 10:00:00.123456``, and an event viewer's tab-separated
export. Each is read as the parse-worker reads a chunk: the layout inferred from its
first lines as planning infers it, then line splitting, the layout (the compiled lane,
where it is built and reads the layout), multi-line joining, pattern mining and COPY
encoding, timed as lines/s and MiB/s, and once more on the Python path alone for
comparison. The target is 30 MiB/s.

    .venv/bin/python bench/layout_bench.py [--lines 300000] [--only NAME]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

HERE = Path(__file__).resolve().parent

from parse_bench import worker_loop, write_lines  # noqa: E402

from logpipe.config import Settings  # noqa: E402
from logpipe.ingest.lane import CompiledLane, layout_program  # noqa: E402
from logpipe.parsing import LineReader  # noqa: E402
from logpipe.parsing.formats import Parser  # noqa: E402
from logpipe.parsing.inference import SAMPLE_LINES, choose  # noqa: E402
from logpipe.patterns import PatternMiner  # noqa: E402

MiB = 1024 * 1024
OUT = HERE / "out"
TARGET_MIB_S = 30.0

_LEVELS = ("Note",) * 8 + ("Warning", "ERROR")
_COMPONENTS = ("InnoDB:", "mysqld:", "Aria:", "Server:")
_MESSAGES = (
    "Buffer pool(s) load completed at {n}",
    "Aborted connection {n} to db: 'shop' user: 'app' host: '10.0.{a}.{b}' (Got timeout reading communication packets)",
    "Checkpoint at LSN {n} completed, flushed {a} pages",
    "Slave I/O thread: connected to master 'repl@10.0.{a}.{b}:3306', replication started in log 'mysql-bin.{n}'",
    "Table './shop/orders_{a}' is marked as crashed and should be repaired",
    "Started {a} purge threads, {b} are idle",
)


def write_mariadb(path: Path, lines: int, seed: int = 1) -> int:
    """MariaDB error-log lines, deterministic for a seed; returns the size in bytes."""

    def line(rnd: random.Random, t: datetime, message: str) -> str:
        thread, level, component = rnd.choice((0, 3, 12, 48)), rnd.choice(_LEVELS), rnd.choice(_COMPONENTS)
        return f"{t:%Y-%m-%d %H:%M:%S} {thread} [{level}] {component} {message}\n"

    return _write(path, lines, seed, line)


def _write(path: Path, lines: int, seed: int, line: Callable[[random.Random, datetime, str], str]) -> int:
    """``lines`` lines that ``line`` makes of a time 0-900 ms after the last and a message."""

    def with_message(rnd: random.Random, t: datetime) -> str:
        message = rnd.choice(_MESSAGES).format(n=rnd.randint(1, 10**9), a=rnd.randint(0, 255), b=rnd.randint(1, 254))
        return line(rnd, t, message)

    return write_lines(path, lines, seed, with_message, step_ms=900)


_HOSTS = ("web-1", "web-2", "db-1")
_PROGRAMS = ("sshd[{pid}]:", "cron[{pid}]:", "kernel:", "systemd[1]:", "nginx[{pid}]:")


def write_month_day(path: Path, lines: int, seed: int = 2) -> int:
    """Lines with a month-day time on a 12-hour clock, as Java's default date format writes
    it (``Nov 1, 2026 10:00:00 PM host [Level] program[pid]: message``); returns the size
    in bytes."""

    def line(rnd: random.Random, t: datetime, message: str) -> str:
        program = rnd.choice(_PROGRAMS).format(pid=rnd.randint(100, 99999))
        host, level = rnd.choice(_HOSTS), rnd.choice(_LEVELS)
        return f"{t:%b} {t.day}, {t:%Y %I:%M:%S %p} {host} [{level}] {program} {message}\n"

    return _write(path, lines, seed, line)


def _header_writer(header: Callable[[random.Random, datetime, str], str]) -> Callable[[Path, int], int]:
    """A writer of lines that are ``header(rnd, time, level word)`` then a message."""

    def write(path: Path, lines: int, seed: int = 3) -> int:
        def line(rnd: random.Random, t: datetime, message: str) -> str:
            return header(rnd, t, rnd.choice(("INFO",) * 8 + ("WARN", "ERROR"))) + message + "\n"

        return _write(path, lines, seed, line)

    return write


# The other time families (and tab-separated cells), each a header as its software writes it.
_FAMILIES: tuple[tuple[str, str, Callable[[random.Random, datetime, str], str]], ...] = (
    ("epoch seconds", "epoch-seconds",
     lambda r, t, lv: f"{int(t.timestamp())}.{t.microsecond // 1000:03d} {lv.lower()} "
                      f"{r.choice(_PROGRAMS).format(pid=r.randint(10, 99))} "),
    ("epoch millis", "epoch-millis", lambda r, t, lv: f"{int(t.timestamp() * 1000)} [{lv}] "),
    ("compact", "compact", lambda r, t, lv: f"{t:%Y%m%d%H%M%S} {lv} {r.choice(_HOSTS)} "),
    ("clock only", "clock-only",
     lambda r, t, lv: f"{t:%H:%M:%S}.{t.microsecond // 1000:03d} [{r.choice(('main', 'worker-1'))}] "
                      f"{lv:<5} c.e.App - "),
    ("glog/klog", "klog",
     lambda r, t, lv: f"{lv[0]}{t:%m%d %H:%M:%S}.{t.microsecond:06d} {r.randint(1, 99999):>7} "
                      f"{r.choice(('server.go', 'util.go'))}:{r.randint(1, 999)}] "),
    ("tab-separated", "tabs",
     lambda r, t, lv: f"{lv}\t{t.month}/{t.day}/{t.year} {t:%I:%M:%S %p}\t{r.choice(_HOSTS)}\t"),
)  # fmt: skip

FILES = (
    ("mariadb error log", "mariadb-error", write_mariadb),
    ("month-day, 12-hour", "month-day", write_month_day),
    *((name, stem, _header_writer(header)) for name, stem, header in _FAMILIES),
)


def full_parse(path: Path, settings: Settings, use_lane: bool = True) -> tuple[int, int, float, str]:
    """(events, lines, seconds, the layout) of the parse-worker's work over the file, its
    layout inferred first (that is timed too, as planning does it once per file)."""
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        head = [line.text for line in islice(LineReader(fh.read, max_line_bytes=settings.max_line_bytes), SAMPLE_LINES)]
    choice = choose(head)
    if choice.layout is None:
        raise SystemExit(f"no layout was inferred: {choice.reason}")
    parser, miner = Parser(layout=choice.layout, adapt=True), PatternMiner()
    # As the worker: the compiled lane reads the lines that fit the layout, where it is
    # built and the layout's columns are ones it has readers for.
    lane = CompiledLane.create(settings.compiled_lane and use_lane, parser, miner, settings)
    events, lines = worker_loop(path, settings, parser, miner, lane)
    how = " (the lane)" if lane and layout_program(choice.layout) else " (the Python path alone)"
    return events, lines, time.perf_counter() - t0, choice.layout.describe() + how


def bare_regex(path: Path, settings: Settings) -> float:
    """Seconds for the inferred layout's regex alone over the file's lines, for scale: the
    floor of any reader of it in Python, and a measure of how loaded the machine is."""
    with open(path, "rb") as fh:
        head = [line.text for line in islice(LineReader(fh.read, max_line_bytes=settings.max_line_bytes), SAMPLE_LINES)]
    layout = choose(head).layout
    assert layout is not None
    match = layout.regex.fullmatch
    t0 = time.perf_counter()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            match(line.rstrip("\n"))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--only", help="one file's name or stem (mariadb-error, epoch-seconds, ...)")
    args = ap.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    settings = Settings.from_env()
    print(f"\ninferred-layout parse throughput, one process -- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for name, stem, write in FILES:
        if args.only and args.only not in (name, stem):
            continue
        path = OUT / f"{stem}-{args.lines}.log"
        if not path.exists():
            print(f"  generating {path.name}", flush=True)
            write(path, args.lines)
        size = path.stat().st_size
        events, lines, secs, layout = full_parse(path, settings)
        rate = size / MiB / secs
        print(f"\nlayout: {layout}")
        print(f"{'file':<20}{'lines':>11}{'MiB':>9}{'lines/s':>12}{'MiB/s':>9}   what")
        print(f"{name:<20}{lines:>11,}{size / MiB:>9.1f}{lines / secs:>12,.0f}{rate:>9.1f}"
              f"   full parse into COPY rows ({events:,} events) (target {TARGET_MIB_S:.0f} MiB/s:"
              f" {'met' if rate >= TARGET_MIB_S else 'NOT met'})")  # fmt: skip
        if layout.endswith("(the lane)"):
            _, _, secs, _ = full_parse(path, settings, use_lane=False)
            print(f"{'':<20}{lines:>11,}{size / MiB:>9.1f}{lines / secs:>12,.0f}{size / MiB / secs:>9.1f}"
                  "   the same on the Python path alone, for comparison")  # fmt: skip
        secs = bare_regex(path, settings)
        print(f"{'':<20}{lines:>11,}{size / MiB:>9.1f}{lines / secs:>12,.0f}{size / MiB / secs:>9.1f}"
              "   the layout's regex alone, for scale")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
