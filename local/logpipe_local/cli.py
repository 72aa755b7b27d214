"""The ``logpipe`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from logpipe import logs
from logpipe.config import Settings
from logpipe.errors import LogpipeError
from logpipe.parsing.formats import FORMATS

from .settings import RunnerSettings

RUN_FILE = "run.json"


def _parser(defaults: RunnerSettings) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="logpipe", description="A serverless, real-time log pipeline.")
    p.add_argument("--data-dir", type=Path, default=defaults.data_dir, help="where local state lives (default: ./data)")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the whole pipeline locally")
    run.add_argument("--port", type=int, default=defaults.port)
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="parse-worker processes")
    run.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS)

    inv = sub.add_parser("invoke", help="run one function of template.yaml in-process with an event file")
    inv.add_argument("name", help="function folder (parse-worker) or logical id")
    inv.add_argument("--event", "-e", required=True, help="event JSON file, or - for standard input")

    sub.add_parser("migrate", help="apply database migrations")

    index = sub.add_parser("index", help="bring the search index and the per-minute counts up to date")
    index.add_argument("--budget", type=float, default=3600.0, help="stop after this many seconds (default 3600)")

    parse = sub.add_parser("parse", help="print the parsed events of a local file as JSON lines")
    parse.add_argument("file", type=Path)
    parse.add_argument("--format", default=None, choices=FORMATS, help="force a format instead of detecting it")
    parse.add_argument("--timezone", default="UTC", help="IANA timezone of naive timestamps (default UTC)")
    parse.add_argument(
        "--explain",
        action="store_true",
        help="print the layout inferred from the file's first lines, why, and the lines that did not fit it",
    )

    patterns = sub.add_parser("patterns", help="print each line's pattern id and template of a local file as CSV")
    patterns.add_argument("file", type=Path)

    gh = sub.add_parser("github", help="GitHub Actions logs of repositories without a webhook")
    gh_sub = gh.add_subparsers(dest="github_command", required=True)
    gp = gh_sub.add_parser("poll", help="queue the logs of a repository's completed runs not seen yet")
    gp.add_argument("--repo", required=True, help="OWNER/NAME")
    gp.add_argument("--since", default=None, help="only runs created at or after this time (ISO 8601)")

    dlq = sub.add_parser("dlq", help="the dead-letter queue")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    ls = dlq_sub.add_parser("list", help="show dead-lettered messages and why they failed")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true")
    rp = dlq_sub.add_parser("replay", help="send dead-lettered messages back to their queue")
    rp.add_argument("--limit", type=int, default=None)
    return p


@contextlib.contextmanager
def _services(data_dir: Path, moto_port: int) -> Iterator[Any]:
    """Settings pointing at the running stack (``logpipe run``), else at a stack started for this command."""
    from logpipe.config import Settings

    from .stack import Stack

    run_file = data_dir / RUN_FILE
    if run_file.exists():
        info = json.loads(run_file.read_text(encoding="utf-8"))
        if _alive(int(info["pid"])):
            for key, value in info["env"].items():
                os.environ.setdefault(key, value)
            yield Settings.from_env()
            return
    stack = Stack(data_dir, moto_port)
    settings = None
    try:
        settings = stack.start()
        yield settings
    finally:
        stack.stop(settings)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _cmd_patterns(path: Path) -> int:
    import csv

    from logpipe.patterns import line_patterns, read_lines

    settings = Settings.from_env()
    lines = read_lines(path, max_line_bytes=settings.max_line_bytes)
    patterns = line_patterns(lines, max_event_lines=settings.max_event_lines, max_event_bytes=settings.max_event_bytes)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(("line", "pattern_id", "template"))
    for n, pattern in enumerate(patterns, start=1):
        out.writerow((n, pattern.id, pattern.template))
    return 0


def _layout_of(path: Path, fmt: str | None, tz: str) -> Any:
    """What ingest would choose for the file: a layout from its first lines, unless a format is forced."""
    from logpipe.parsing import LineReader
    from logpipe.parsing.inference import SAMPLE_LINES, choose
    from logpipe.storage.gunzip import open_text

    if fmt is not None:
        return None
    settings = Settings.from_env()
    with open_text(path) as read:
        head = [line.text for line in islice(LineReader(read, max_line_bytes=settings.max_line_bytes), SAMPLE_LINES)]
    return choose(head, tz=tz)


def _cmd_parse(path: Path, fmt: str | None, tz: str) -> int:
    """Print the events of a local file as the parse-worker would store them, one JSON object a line."""
    from logpipe.parsing import LineReader
    from logpipe.parsing.formats import Parser
    from logpipe.parsing.multiline import Joiner
    from logpipe.storage.gunzip import open_text

    settings = Settings.from_env()
    choice = _layout_of(path, fmt, tz)
    layout = choice.layout if choice is not None else None
    parser = Parser(format=fmt, tz=tz, layout=layout, adapt=layout is not None)
    joiner = Joiner(parser.parse, max_lines=settings.max_event_lines, max_bytes=settings.max_event_bytes)
    with open_text(path) as read:
        lines = LineReader(read, max_line_bytes=settings.max_line_bytes)
        out = sys.stdout
        for ev in joiner.events(lines, first_line=1, start_offset=0):
            p = ev.parsed
            event: dict[str, Any] = {
                "line": ev.line,
                "ts": p.ts.isoformat() if p.ts else None,
                "level": p.level,
                "format": p.format,
                "message": ev.message(),
                "fields": p.fields,
            }
            if ev.line_count > 1:
                event["line_count"] = ev.line_count
            if ev.truncated:
                event["truncated"] = True
            out.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
    return 0


EXPLAIN_MISFITS = 50  # lines that did not fit, listed with their reason; the rest are counted


def _cmd_explain(path: Path, fmt: str | None, tz: str) -> int:
    """Print the layout the file would be read with and why, then each event's first line
    that the layout did not read, with the reason and what read it instead."""
    from logpipe.parsing import LineReader
    from logpipe.parsing.formats import Parser
    from logpipe.parsing.layouts import LAYOUT_FORMAT
    from logpipe.parsing.multiline import Joiner
    from logpipe.storage.gunzip import open_text

    out = sys.stdout
    if fmt is not None:
        out.write(f"format forced: {fmt}; no layout is inferred\n")
        return 0
    settings = Settings.from_env()
    choice = _layout_of(path, fmt, tz)
    for reason in choice.inference.reasons:
        out.write(f"inference: {reason}\n")
    if choice.layout is None:
        out.write(f"no layout: {choice.reason}\n")
        return 0
    out.write(f"layout: {choice.layout.describe()}\n")
    out.write(f"chosen: {choice.reason}\n")
    out.write(f"as data (an upload's 'layout'): {json.dumps(choice.layout.to_dict())}\n")
    parser = Parser(tz=tz, layout=choice.layout, adapt=True)
    joiner = Joiner(parser.parse, max_lines=settings.max_event_lines, max_bytes=settings.max_event_bytes)
    events = misfits = changes = blank = 0
    with open_text(path) as read:
        lines = LineReader(read, max_line_bytes=settings.max_line_bytes)
        for ev in joiner.events(lines, first_line=1, start_offset=0):
            events += 1
            while changes < len(parser.layout_changes):
                _, layout = parser.layout_changes[changes]
                changes += 1
                out.write(f"line {ev.line}: the lines stopped fitting; layout from here: {layout.describe()}\n")
            if ev.parsed.format == LAYOUT_FORMAT:
                refused = (ev.parsed.fields or {}).get("time_refused")
                if refused and misfits < EXPLAIN_MISFITS:
                    out.write(f"line {ev.line}: fits, but its time is refused: {refused}\n")
                continue
            if not ev.texts[0].strip():
                blank += 1
                continue
            misfits += 1
            if misfits <= EXPLAIN_MISFITS:
                current = parser.layout or choice.layout
                text = ev.texts[0]
                out.write(
                    f"line {ev.line}: did not fit: {current.misfit(text)}; read as {ev.parsed.format}: {text[:200]!r}\n"
                )
    more = f" ({misfits - EXPLAIN_MISFITS} not listed)" if misfits > EXPLAIN_MISFITS else ""
    read_by_layout = events - misfits - blank
    out.write(f"{read_by_layout} of {events} events read by the layout; {misfits} did not fit{more}; {blank} blank\n")
    return 0


def _cmd_invoke(name: str, event_path: str, data_dir: Path, moto_port: int) -> int:
    from . import template
    from .consumer import LocalContext

    text = sys.stdin.read() if event_path == "-" else Path(event_path).read_text(encoding="utf-8")
    try:
        event = json.loads(text)
    except ValueError as exc:
        print(f"logpipe: error: the event is not JSON: {exc}", file=sys.stderr)
        return 2
    spec = template.find(name)
    with _services(data_dir, moto_port):
        handler = spec.handler_function()
        context = LocalContext(spec.name, spec.timeout_s)
        try:
            result = handler(event, context)
        except Exception as exc:  # noqa: BLE001 - reported as Lambda reports a function's error
            print(json.dumps(lambda_error(exc, context.aws_request_id), indent=2))
            return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


def lambda_error(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The answer Lambda's Python runtime (and ``sam local invoke``) gives for a function that
    raised ``exc``: its type and message, and the stack as a list of lines, not a traceback dump."""
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": [f'  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}\n' for f in frames],
    }


def _cmd_dlq(args: argparse.Namespace, moto_port: int) -> int:
    from logpipe.queue import all_queues

    with _services(args.data_dir, moto_port) as settings:
        queues = all_queues(settings)
        try:
            if args.dlq_command == "list":
                letters = [d for q in queues for d in q.list_dead(args.limit)]
                if args.json:
                    for d in letters:
                        print(json.dumps(d.__dict__))
                else:
                    for d in letters:
                        print(f"{d.queue}  {d.id}  attempts={d.attempts}  failed_at={d.failed_at}")
                        print(f"  error: {d.error}")
                        print(f"  body:  {d.body[:300]}")
                    print(f"{len(letters)} dead-lettered message(s)")
            else:
                moved = sum(q.replay_dead(args.limit) for q in queues)
                print(f"replayed {moved} message(s)")
        finally:
            for q in queues:
                q.close()
    return 0


def _cmd_migrate(data_dir: Path, moto_port: int) -> int:
    from logpipe import db
    from logpipe.db.migrate import migrate

    with _services(data_dir, moto_port) as settings:
        db.ensure_database(settings)
        conn = db.connect(settings, wait_s=5)
        try:
            applied = migrate(conn)
        finally:
            conn.close()
    print("applied: " + ", ".join(applied) if applied else "the database is up to date")
    return 0


def _cmd_index(data_dir: Path, moto_port: int, budget_s: float) -> int:
    """Index what the stream log holds after the search index's watermark."""
    from logpipe import db
    from logpipe.search.indexer import index_pending

    with _services(data_dir, moto_port) as settings:
        conn = db.connect(settings, wait_s=5)
        try:
            progress = index_pending(conn, budget_s)
        finally:
            conn.close()
    state = "another indexer is at work" if progress.busy else "up to date" if progress.caught_up else "not done"
    print(f"indexed {progress.blocks} blocks ({progress.events} events) up to position {progress.watermark}: {state}")
    return 0


def _cmd_github_poll(data_dir: Path, moto_port: int, repo: str, since: str | None) -> int:
    """List the repository's completed runs and queue the logs of those not seen yet; the
    running stack's workers (or the next `logpipe run`) fetch and ingest them."""
    from datetime import UTC, datetime

    from logpipe.github.poll import poll
    from logpipe.ingest import Context

    after = None
    if since is not None:
        after = datetime.fromisoformat(since.replace("Z", "+00:00"))
        after = after if after.tzinfo else after.replace(tzinfo=UTC)
    with _services(data_dir, moto_port) as settings:
        ctx = Context(settings)
        try:
            result = poll(ctx, repo, after)
        finally:
            ctx.close()
    if result.not_modified:
        print(f"{repo}: nothing new (304 Not Modified)")
    else:
        print(f"{repo}: {result.listed} completed run(s) listed, {result.queued} queued for their logs")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        runner = RunnerSettings.from_env()
        log_level = Settings.from_env().log_level
    except LogpipeError as exc:  # a malformed variable: said before anything starts
        print(f"logpipe: error: {exc}", file=sys.stderr)
        return 2
    args = _parser(runner).parse_args(argv)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    logs.quiet_libraries()
    # pika logs each refused connection with a traceback; the error it raises is reported below, in one line.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    try:
        if args.command == "run":
            from .runner import run

            return run(
                args.port,
                args.data_dir.resolve(),
                max(args.workers, 1),
                args.host,
                runner.moto_port,
                runner.schedule_s,
                runner.worker_restart_s,
                runner.http_idle_timeout_s,
                runner.allowed_origin,
                runner.http_processes,
                runner.http_max_connections,
            )
        if args.command == "parse":
            if args.explain:
                return _cmd_explain(args.file, args.format, args.timezone)
            return _cmd_parse(args.file, args.format, args.timezone)
        if args.command == "patterns":
            return _cmd_patterns(args.file)
        if args.command == "invoke":
            return _cmd_invoke(args.name, args.event, args.data_dir, runner.moto_port)
        if args.command == "migrate":
            return _cmd_migrate(args.data_dir, runner.moto_port)
        if args.command == "dlq":
            return _cmd_dlq(args, runner.moto_port)
        if args.command == "github":
            return _cmd_github_poll(args.data_dir, runner.moto_port, args.repo, args.since)
        if args.command == "index":
            return _cmd_index(args.data_dir, runner.moto_port, args.budget)
    except LogpipeError as exc:
        print(f"logpipe: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"logpipe: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except (ValueError, LookupError) as exc:  # a bad --timezone, and the like
        print(f"logpipe: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `logpipe parse big.log | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
