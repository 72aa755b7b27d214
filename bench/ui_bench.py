"""The web app's figures (`make bench-ui`, also run by `make bench`): prints them, asserts nothing.

1. Initial JS: the gzip size of the scripts the built page loads before anything else
   (its entry and what it preloads; Search's chunk loads when Search opens). Target < 250 KB.
2. First render on the local stack (`logpipe run` on embedded defaults): the app shell drawn,
   and the app usable once the API answered to the token; median of 5 fresh browsers. Target < 1 s.
3. Live tail: the built app in headless Chromium against a synthetic stream at 1,000, 5,000 and
   10,000 events/s for 10 s (the page is what is measured; bench/stream_bench.py measures the
   server): frames a second while it runs, frames over 34 ms and 50 ms, events lost (none may be).
4. A large upload through the page (LOGPIPE_BENCH_UPLOAD_MB, 1024 by default): the file chosen
   in the page, multipart straight to the bucket (moto's server), the time until the page says
   it is uploaded, and how many progress values it showed on the way.

    .venv/bin/python bench/ui_bench.py
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
DIST = FRONTEND / "dist"
LOGPIPE = str(Path(sys.executable).with_name("logpipe"))


def say(text: str) -> None:
    print(text, flush=True)


def initial_js() -> tuple[int, int, list[str]]:
    html = (DIST / "index.html").read_text(encoding="utf-8")
    names = re.findall(r'<script[^>]+src="\.?/?([^"]+\.js)"', html) + re.findall(
        r'<link[^>]+rel="modulepreload"[^>]+href="\.?/?([^"]+\.js)"', html
    )
    raw = sum((DIST / n).stat().st_size for n in names)
    zipped = sum(len(gzip.compress((DIST / n).read_bytes(), 9)) for n in names)
    return raw, zipped, names


class Stack:
    """`logpipe run` on embedded defaults in a data folder of its own."""

    def __init__(self, data: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PSQL_", "LOGPIPE_", "RABBITMQ_"))}
        env.pop("AWS_ENDPOINT_URL", None)
        self.proc = subprocess.Popen(
            [LOGPIPE, "--data-dir", str(data), "run", "--port", "0", "--workers", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        banner = []
        for line in self.proc.stdout:
            banner.append(line)
            if line.startswith("  data:"):
                break
        text = "".join(banner)
        url, token = re.search(r"running at (\S+)", text), re.search(r"API token: (\S+)", text)
        if not (url and token):
            raise SystemExit("logpipe run did not start:\n" + text)
        self.url, self.token = url.group(1), token.group(1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def node(*args: str) -> dict[str, str]:
    done = subprocess.run(["node", "bench/ui.mjs", *args], cwd=FRONTEND, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"ui.mjs {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)


def log_file(path: Path, mb: int) -> None:
    """``mb`` MiB of application log lines, with an error and a traceback now and then."""
    block = []
    for i in range(2000):
        block.append(f"2026-11-30T10:{i // 60 % 60:02d}:{i % 60:02d}Z INFO request {i} served in {i % 97} ms\n")
        if i % 100 == 0:
            block.append(f"2026-11-30T10:{i // 60 % 60:02d}:{i % 60:02d}Z ERROR request {i} failed\n")
            block.append('Traceback (most recent call last):\n  File "app.py", line 1, in run\nValueError: x\n')
    data = "".join(block).encode()
    with path.open("wb") as out:
        left = mb * 1024 * 1024
        while left > 0:
            chunk = data[:left]
            out.write(chunk)
            left -= len(chunk)


def main() -> int:
    if not (DIST / "index.html").is_file():
        raise SystemExit("the web app is not built: run `make web`")
    if shutil.which("node") is None or not Path("/usr/bin/chromium").exists():
        raise SystemExit("node and /usr/bin/chromium are needed: `make chromium web`")
    say(f"ui bench on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    raw, zipped, names = initial_js()
    say(f"initial JS: {zipped / 1024:.1f} KB gzip ({raw / 1024:.1f} KB raw) in {len(names)} file(s); target < 250 KB")

    for rate in (1000, 5000, 10000):
        t = node("tail", str(rate), "10")
        lost = int(t["tail_events_received"]) - int(t["tail_shown_plus_dropped_from_view"])
        say(
            f"live tail at {rate} events/s for 10 s: {t['tail_fps']} frames/s, "
            f"{t['tail_frames_over_34ms']} frames over 34 ms, {t['tail_frames_over_50ms']} over 50 ms, "
            f"worst {t['tail_worst_frame_ms']} ms; events unaccounted for: {lost}"
        )

    mb = int(os.environ.get("LOGPIPE_BENCH_UPLOAD_MB", "1024"))
    with tempfile.TemporaryDirectory(prefix="logpipe-ui-bench-") as tmp:
        stack = Stack(Path(tmp) / "data")
        try:
            r = node("first-render", stack.url, stack.token)
            say(
                f"first render: shell drawn {r['first_render_ms']} ms after navigation, usable (API answered) "
                f"{r['usable_after_api_ms']} ms (median of 5); target < 1000 ms"
            )
            if mb > 0:
                big = Path(tmp) / "big.log"
                log_file(big, mb)
                u = node("upload", stack.url, stack.token, str(big))
                say(
                    f"upload through the page: {int(u['upload_bytes']) / 1048576:.0f} MiB in {u['upload_seconds']} s "
                    f"({u['upload_mb_per_s']} MiB/s) to moto's server, {u['upload_progress_values_shown']} progress "
                    "values shown on the way"
                )
                big.unlink()
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
