"""A deterministic generator of mixed-format log files for the ingest benchmark.

The same seed and start time give the same bytes. Lines mix the formats the parser
meets in practice: JSON lines, logfmt, plain text starting with an ISO timestamp and a
level, and lines with no timestamp at all (stack frames, tracebacks, bare messages).
Timestamps move forward from ``start`` by 0-200 ms a line (a service logging about ten
lines a second), so a million lines span about a day. Request ids are random hex, which
keeps the gzip ratio near that of real logs instead of the 20x of a toy vocabulary.

Everything streams: blocks of lines are written as they are made, never the whole file.

    python bench/generate.py --lines 1000000 out.log
    python bench/generate.py --gzip-mb 100 out.log.gz
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

# Part of the names of generated files: bump it when the same seed starts giving other bytes.
VERSION = 2
BLOCK_LINES = 10_000
MiB = 1024 * 1024

SERVICES = ("checkout", "billing", "auth", "search", "inventory", "gateway", "mailer", "scheduler")
HOSTS = tuple(f"ip-10-0-{a}-{b}" for a in (1, 2, 3) for b in (11, 23, 47, 92))
METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
PATHS = (
    "/api/orders",
    "/api/orders/{n}",
    "/api/users/{n}/profile",
    "/api/cart/{n}/items",
    "/health",
    "/api/search?q=shoes&page={n}",
    "/static/app.{n}.js",
    "/api/payments/{n}/capture",
)
# (level word as written, weight): mostly info, as in real logs
LEVELS = (("INFO", 66), ("DEBUG", 12), ("WARN", 11), ("ERROR", 8), ("FATAL", 1), ("TRACE", 2))
MESSAGES = (
    "request completed",
    "cache miss for key",
    "user session refreshed",
    "payment authorised",
    "payment declined by issuer",
    "retrying upstream call",
    "connection pool exhausted, waiting for a free connection",
    "slow query detected",
    "order placed",
    "email queued for delivery",
    "rate limit reached for client",
    "failed to parse upstream response: unexpected token '<' at position 0",
    "scheduled job finished",
    "TLS handshake failed: certificate has expired",
    "worker heartbeat",
    "upstream timed out after 30000 ms",
)
NO_TIMESTAMP = (
    "    at com.example.orders.OrderService.place(OrderService.java:{n})",
    "    at java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)",
    "Caused by: java.net.SocketTimeoutException: Read timed out",
    "Traceback (most recent call last):",
    '  File "/app/handlers/orders.py", line {n}, in place_order',
    "    raise UpstreamError(resp.status_code)",
    "goroutine {n} [running]:",
    "starting worker pool size={n} queue=orders",
    "GET /health 200 0.{n}ms",
    "\x1b[32mready\x1b[0m to accept connections on :8080",
)


def _weighted(pairs: tuple[tuple[str, int], ...]) -> list[str]:
    return [word for word, weight in pairs for _ in range(weight)]


class LogGenerator:
    """Yields blocks of newline-terminated lines; deterministic for a given seed and start."""

    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.ms = int(start.replace(tzinfo=start.tzinfo or UTC).timestamp() * 1000)
        self._second = -1
        self._iso = ""
        self.lines = 0
        self._levels = _weighted(LEVELS)

    def _stamp(self) -> tuple[str, int]:
        second, ms = divmod(self.ms, 1000)
        if second != self._second:
            self._second = second
            self._iso = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return self._iso, ms

    def _line(self) -> str:
        rng = self.rng
        self.ms += rng.randrange(0, 200)
        iso, ms = self._stamp()
        kind = rng.random()
        level = rng.choice(self._levels)
        service = rng.choice(SERVICES)
        msg = rng.choice(MESSAGES)
        n = rng.randrange(1, 100_000)
        rid = f"{rng.getrandbits(64):016x}"
        if kind < 0.35:
            path = rng.choice(PATHS).format(n=n)
            status = 500 if level in ("ERROR", "FATAL") else rng.choice((200, 200, 200, 201, 204, 304, 404))
            return (
                f'{{"time":"{iso}.{ms:03d}Z","level":"{level.lower()}","service":"{service}","msg":"{msg}",'
                f'"method":"{rng.choice(METHODS)}","path":"{path}","status":{status},'
                f'"duration_ms":{rng.random() * 900:.1f},"request_id":"{rid}"}}\n'
            )
        if kind < 0.60:
            return (
                f'time={iso}.{ms:03d}Z level={level.lower()} service={service} host={rng.choice(HOSTS)} msg="{msg}" '
                f"request_id={rid} duration={rng.randrange(1, 5000)}ms attempt={rng.randrange(1, 4)}\n"
            )
        if kind < 0.90:
            sep = "T" if kind < 0.75 else " "
            return (
                f"{iso[:10]}{sep}{iso[11:]}.{ms:03d}Z {level} [{service}-{n % 8}] {msg} "
                f"(host={rng.choice(HOSTS)} request={rid})\n"
            )
        return rng.choice(NO_TIMESTAMP).format(n=n) + "\n"

    def block(self, lines: int = BLOCK_LINES) -> bytes:
        line = self._line
        text = "".join([line() for _ in range(lines)])
        self.lines += lines
        return text.encode("utf-8")


def write_plain(
    path: Path, lines: int, seed: int, start: datetime, progress: Callable[[int, int], None] | None = None
) -> int:
    """Write ``lines`` lines to ``path``; returns its size in bytes."""
    gen = LogGenerator(seed, start)
    size = 0
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        while gen.lines < lines:
            block = gen.block(min(BLOCK_LINES, lines - gen.lines))
            fh.write(block)
            size += len(block)
            if progress is not None:
                progress(gen.lines, size)
    tmp.rename(path)
    return size


def write_gzip(
    path: Path,
    compressed_bytes: int,
    seed: int,
    start: datetime,
    level: int = 6,
    progress: Callable[[int, int, int], None] | None = None,
) -> tuple[int, int, int]:
    """Write gzip data to ``path`` until it holds about ``compressed_bytes`` bytes.

    Returns ``(compressed size, decompressed size, lines)``. Generating the next block
    overlaps with compressing the last (zlib lets go of the GIL), so two cores are used.
    """
    gen = LogGenerator(seed, start)
    z = zlib.compressobj(level, zlib.DEFLATED, 31)
    written = raw = 0
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh, ThreadPoolExecutor(1) as pool:
        # One thread compresses, in order, while this one makes the next block.
        previous: Future[bytes] | None = None
        while True:
            block = gen.block()
            raw += len(block)
            current = pool.submit(z.compress, block)
            if previous is not None:
                out = previous.result()
                fh.write(out)
                written += len(out)
                if progress is not None:
                    progress(gen.lines, raw, written)
            previous = current
            if written >= compressed_bytes:
                break
        tail = previous.result() + z.flush()
        fh.write(tail)
        written += len(tail)
    tmp.rename(path)
    return written, raw, gen.lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--gzip-mb", type=float, help="write about this many MiB of gzip instead (as many lines as fit)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", default="2026-01-01T00:00:00+00:00", help="time of the first line (ISO 8601)")
    args = ap.parse_args(argv)
    start = datetime.fromisoformat(args.start)
    t0 = time.monotonic()
    if args.gzip_mb:
        size, raw, lines = write_gzip(args.out, int(args.gzip_mb * MiB), args.seed, start)
        print(f"{args.out}: {size / MiB:.1f} MiB gzip, {raw / MiB:.1f} MiB of text, {lines} lines", file=sys.stderr)
    else:
        size = write_plain(args.out, args.lines, args.seed, start)
        print(f"{args.out}: {size / MiB:.1f} MiB, {args.lines} lines", file=sys.stderr)
    print(f"in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
