"""Where a parse-worker's time goes: cProfile of ``process_chunk`` on one chunk, in-process.

Starts the same pipeline as ingest_bench (moto's server, a fresh database), puts a
generated file in the bucket, plans it, and processes its first two chunks (16 MiB each by
default, about 100,000 lines): the first plainly, for the real rate, the second under cProfile.
Prints the top functions by own time and by cumulative time. Each batch is committed on a
thread of its own while the next one is parsed: the profile, of the calling thread, does
not show the commits, but the CPU figures count them. The database and bucket are removed
afterwards.

    .venv/bin/python bench/profile_chunk.py [--lines 200000] [--top 30]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from ingest_bench import HERE, Pipeline, generation_start, plain_file, say

from logpipe.aws import client
from logpipe.ingest import Context
from logpipe.ingest.chunk import process_chunk
from logpipe.ingest.plan import plan_object


def measure(ctx: Context, file_id: str, seq: int, deadline: float) -> tuple[int, float, float]:
    """Process one chunk; returns its lines, the wall seconds and this process's CPU seconds."""
    t0, c0 = time.monotonic(), time.process_time()
    process_chunk(ctx, file_id, seq, deadline)
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    rows = ctx.conn.run("SELECT next_line - first_line FROM chunks WHERE file_id = :f AND seq = :s", f=file_id, s=seq)
    return int(rows[0][0]), wall, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args(argv)
    out = HERE / "out"
    out.mkdir(parents=True, exist_ok=True)
    path, _ = plain_file(out, args.lines, args.seed, generation_start())
    pipe = Pipeline()
    try:
        pipe.start()
        key = f"bench/{path.name}"
        client("s3", pipe.settings).upload_file(str(path), pipe.settings.bucket, key)
        ctx = Context(pipe.settings)
        deadline = time.monotonic() + 3600
        plan_object(ctx, key, deadline)
        file_id = str(ctx.conn.run("SELECT id FROM files WHERE object_key = :k", k=key)[0][0])
        # Chunk 0 plain, to know the real rate; chunk 1 under the profiler, to know where it goes.
        n0, wall, cpu = measure(ctx, file_id, 0, deadline)
        say(f"chunk 0: {n0:,} lines in {wall:.2f}s ({n0 / wall:,.0f} lines/s), {cpu:.2f}s of this process's CPU")
        prof = cProfile.Profile()
        prof.enable()
        n1, wall, cpu = measure(ctx, file_id, 1, deadline)
        prof.disable()
        ctx.close()
        say(f"chunk 1: {n1:,} lines in {wall:.2f}s under cProfile ({n1 / wall:,.0f} lines/s, profiled)")
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    finally:
        pipe.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
