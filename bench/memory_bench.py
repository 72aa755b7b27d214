"""Worker memory benchmark (`make bench`): prints the peak RSS of a parse-worker on the
input shapes that once took it past its ``MemorySize``; asserts nothing about time.

Each input goes through the real pipeline (moto's server as S3/SQS, a fresh database on
the real PostgreSQL, the API's presigned upload) to one fresh parse-worker process,
started as ``logpipe run`` starts them; its peak RSS (VmHWM) is read from /proc before it
exits:

1. wide lines, gzip: JSON lines of about 60 KB each (10,500 of them by default);
2. 1 MiB lines, gzip: each longer than a line may be, so each is truncated and flagged;
3. a gzip bomb: a few MB of gzip that expand to GiBs of short lines; the file must fail
   at the decompression limits (``LOGPIPE_MAX_GZIP_RATIO`` and the others), keeping the
   lines read before.

    .venv/bin/python bench/memory_bench.py [--quick] [--wide-lines N] [--long-lines N] [--bomb-gib G]

Generated files are kept under bench/out/ (a second run reuses them).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ingest_bench import MiB, Pipeline, cached, machine, say, workers  # noqa: E402

MEMORY_SIZE_MIB = 1769  # the parse-worker's MemorySize in template.yaml
STALL_S = 180.0


def _gzip_lines(path: Path, lines: Any) -> tuple[int, int]:
    """Write ``lines`` (an iterable of bytes, each ending in a newline) as one gzip member;
    returns (lines, decompressed bytes)."""
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    count = raw = 0
    with open(path, "wb") as fh:
        for line in lines:
            fh.write(z.compress(line))
            count += 1
            raw += len(line)
        fh.write(z.flush())
    return count, raw


def wide_json(path: Path, count: int) -> tuple[int, int]:
    """JSON lines of about 60 KB: 600 fields of some 90 characters, a few of them random."""
    rng = random.Random(1)
    words = [f"{rng.getrandbits(64):016x}" for _ in range(4096)]

    def gen() -> Any:
        for n in range(count):
            fields = {f"field_{k:03d}": " ".join(rng.choice(words) for _ in range(5)) for k in range(600)}
            row = {"time": f"2026-11-27T03:{n // 60 % 60:02d}:{n % 60:02d}Z", "level": "info", "msg": f"wide {n}"}
            yield (json.dumps({**row, **fields}, separators=(",", ":")) + "\n").encode()

    return _gzip_lines(path, gen())


def long_lines(path: Path, count: int) -> tuple[int, int]:
    """Lines of 1 MiB each (text of random words), far past the longest a line may be."""
    rng = random.Random(2)
    words = [f"{rng.getrandbits(40):010x}" for _ in range(4096)]

    def gen() -> Any:
        for n in range(count):
            body = " ".join(rng.choice(words) for _ in range(MiB // 11))
            yield (f"2026-11-27 03:13:14,123 INFO long {n} " + body)[: MiB - 1].encode() + b"\n"

    return _gzip_lines(path, gen())


def bomb(path: Path, gib: float) -> tuple[int, int]:
    """One short line repeated to ``gib`` GiB, compressed as hard as zlib can (about 1000:1)."""
    line = b"2026-11-27 03:13:14,123 INFO the same line again and again\n"
    block = line * 20_000
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    raw = 0
    with open(path, "wb") as fh:
        while raw < gib * 1024 * MiB:
            fh.write(z.compress(block))
            raw += len(block)
        fh.write(z.flush())
    return raw // len(line), raw


def made(out: Path, name: str, make: Any, *args: Any) -> tuple[Path, int, int]:
    def generate(path: Path) -> tuple[int, int]:
        say(f"  generating {path.name}")
        lines, raw = make(path, *args)
        return int(lines), int(raw)

    return cached(out / name, generate)


def run_one(pipe: Pipeline, path: Path, expect_failure: bool) -> dict[str, Any]:
    """Upload ``path`` to a fresh worker; wait until the file is done (or failed); its peak RSS."""
    with workers(pipe.env, 1) as w:
        w.wait_settled()
        idle = w.peak_rss()[0]
        file_id, _, complete = pipe.upload(path, "application/gzip")
        if complete is not None:
            complete()
        t0 = last_move = time.monotonic()
        seen = -1
        while True:
            f = pipe.file(file_id)
            if f["status"] in ("done", "failed"):
                break
            if f["lines"] != seen:
                seen, last_move = f["lines"], time.monotonic()
            elif time.monotonic() - last_move > STALL_S:
                raise RuntimeError(f"no progress for {STALL_S:.0f}s at {seen:,} lines")
            w.check_alive()
            time.sleep(0.5)
        seconds = time.monotonic() - t0
        peak = w.peak_rss()[0]
    if (f["status"] == "failed") != expect_failure:
        raise RuntimeError(f"{path.name}: expected {'failed' if expect_failure else 'done'}, got {f}")
    return {"file": f, "seconds": seconds, "peak": peak, "idle": idle}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller inputs (2,000 wide lines, 100 long, 1 GiB bomb)")
    ap.add_argument("--wide-lines", type=int, help="60 KB JSON lines (default 10,500)")
    ap.add_argument("--long-lines", type=int, help="1 MiB lines (default 500)")
    ap.add_argument("--bomb-gib", type=float, help="GiB the bomb expands to (default 5)")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)
    wide_n = args.wide_lines or (2000 if args.quick else 10_500)
    long_n = args.long_lines or (100 if args.quick else 500)
    bomb_gib = args.bomb_gib or (1.0 if args.quick else 5.0)
    args.out.mkdir(parents=True, exist_ok=True)
    m = machine()
    say(f"memory_bench on {m['nproc']} cores ({m['cpu']}), {m['ram']} RAM, load {m['load']}")
    say(f"reference loop: {m['reference loop']} (the machine's speed at the time)")
    inputs = [
        ("wide JSON lines, gzip", made(args.out, f"wide-{wide_n}.jsonl.gz", wide_json, wide_n), False),
        ("1 MiB lines, gzip", made(args.out, f"long-{long_n}.log.gz", long_lines, long_n), False),
        ("gzip bomb", made(args.out, f"bomb-{bomb_gib:g}GiB.log.gz", bomb, bomb_gib), True),
    ]
    pipe = Pipeline()
    pipe.start()
    results = []
    try:
        for name, (path, lines, raw), fails in inputs:
            size = path.stat().st_size
            say(f"\n{name}: {size / MiB:,.1f} MiB of gzip, {raw / MiB:,.0f} MiB of text, {lines:,} lines")
            r = run_one(pipe, path, fails)
            f = r["file"]
            say(
                f"  {f['status']} in {r['seconds']:.1f}s: {f['lines']:,} lines, {f['events']:,} events, "
                f"{f['truncated_lines']:,} truncated; worker peak RSS {r['peak'] / MiB:,.0f} MiB "
                f"(idle {r['idle'] / MiB:,.0f} MiB)"
            )
            if f["error"]:
                say(f"  error: {f['error']}")
            results.append((name, size, raw, r))
    finally:
        pipe.stop()
    say(f"\nworker peak RSS (VmHWM), against the parse-worker's MemorySize of {MEMORY_SIZE_MIB} MiB:")
    say(f"  {'input':<24} {'gzip':>10} {'text':>10} {'peak RSS':>10}  status")
    for name, size, raw, r in results:
        say(
            f"  {name:<24} {size / MiB:>8,.1f} M {raw / MiB:>8,.0f} M {r['peak'] / MiB:>8,.0f} M  {r['file']['status']}"
        )
    worst = max(r["peak"] for _, _, _, r in results)
    say(f"  highest: {worst / MiB:,.0f} MiB = {100 * worst / (MEMORY_SIZE_MIB * MiB):.0f}% of MemorySize")
    return 0


if __name__ == "__main__":
    sys.exit(main())
