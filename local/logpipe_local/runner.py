"""``logpipe run``: every function of template.yaml on one machine.

HTTP events become routes of one local server; each function's module exposes its
WSGI ``app`` beside its Lambda ``handler``, and the server calls the app whose route
matches. Queue events become ``--workers`` processes (see ``consumer``).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from logpipe import logs
from logpipe.config import Settings
from logpipe.ingest import Context
from logpipe.ingest.sweep import expire_uploads, requeue_stalled

from . import template
from .consumer import run_worker
from .stack import Stack

log = logging.getLogger("logpipe.local")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

SWEEP_EVERY_S = 300


def _sweep_uploads(settings: Settings, stopping: threading.Event) -> None:
    """Every few minutes, close the uploads that will never arrive (see ``expire_uploads``)."""
    while not stopping.wait(SWEEP_EVERY_S):
        ctx = Context(settings)
        try:
            expired = expire_uploads(ctx)
            if expired:
                log.info("marked %d upload(s) failed: their links expired and nothing arrived", expired)
        except Exception:  # a service may be away for a while: try again next time
            log.warning("upload sweep failed; trying again in %d s", SWEEP_EVERY_S, exc_info=True)
        finally:
            ctx.close()


class Dispatcher:
    """One WSGI app that routes each request to the function whose route matches: the routes
    of the function's HTTP events in the template, or, for a function behind a function URL,
    the routes its own app defines."""

    def __init__(self, specs: list[template.FunctionSpec], log_level: str) -> None:
        self.table: list[tuple[Callable[[str], bool], list[str], str, WsgiApp]] = []
        self.served: dict[str, list[str]] = {}  # "METHOD /path" by function, to print
        for spec in specs:
            if spec.routes:
                app = spec.load_app()
                for route in spec.routes:
                    self.table.append((_matcher(route.pattern), [route.method], spec.name, app))
                    self.served.setdefault(spec.name, []).append(f"{route.method} {route.path}")
            elif spec.wsgi_app:
                app = spec.load_app()
                for rule in app.url_map.iter_rules():
                    if rule.endpoint != "static":
                        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
                        self.table.append((_rule_matcher(app, rule.rule), methods, spec.name, app))
                        self.served.setdefault(spec.name, []).append(f"{'|'.join(methods)} {rule.rule}")
        # Each function module configures logging for its name as it loads: the process
        # itself is the runner, and each request is logged under its function's name.
        logs.configure("logpipe-run", log_level)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", "/"), environ.get("REQUEST_METHOD", "GET")
        allowed: list[str] = []
        for matches, methods, name, app in self.table:
            if matches(path):
                if method in methods or "ANY" in methods or (method == "HEAD" and "GET" in methods):
                    token = logs.current_function.set(name)
                    try:
                        return app(environ, start_response)
                    finally:
                        logs.current_function.reset(token)
                allowed += methods
        status = "405 Method Not Allowed" if allowed else "404 Not Found"
        body = b'{"error": "%s"}' % (b"method not allowed" if allowed else b"no such route")
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if allowed:
            headers.append(("Allow", ", ".join(allowed)))
        start_response(status, headers)
        return [body]


def _matcher(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda path: pattern.match(path) is not None


def _rule_matcher(app: Any, rule: str) -> Callable[[str], bool]:
    """Whether a path is one of this Flask rule's (``/api/files/<file_id>`` and the like)."""
    from werkzeug.routing import Map, Rule

    one = Map([Rule(rule, endpoint="x")], converters=app.url_map.converters).bind("localhost")

    def matches(path: str) -> bool:
        return bool(one.test(path))

    return matches


def run(port: int, data_dir: Path, workers: int, host: str = "127.0.0.1", moto_port: int = 0) -> int:
    stack = Stack(data_dir, moto_port)
    settings: Settings | None = None
    procs: list[multiprocessing.process.BaseProcess] = []
    server = None
    try:
        settings = stack.start()
        specs = template.load()
        dispatcher = Dispatcher(specs, settings.log_level)
        server = make_server(host, port, dispatcher, threaded=True)
        ctx = Context(settings)
        try:
            requeued = requeue_stalled(ctx)
            expired = expire_uploads(ctx)
        finally:
            ctx.close()

        spawn = multiprocessing.get_context("spawn")
        env = {k: v for k, v in os.environ.items() if k.startswith(("PSQL_", "AWS_", "LOGPIPE_", "RABBITMQ_"))}
        for spec in specs:
            if spec.queues:
                for n in range(workers):
                    worker = spawn.Process(
                        target=run_worker, args=(spec.name, env), name=f"{spec.name}-{n}", daemon=True
                    )
                    worker.start()
                    procs.append(worker)

        run_file = data_dir / "run.json"  # lets `logpipe dlq ...` reach this stack while it runs
        run_file.write_text(json.dumps({"pid": os.getpid(), "env": env}), encoding="utf-8")
        run_file.chmod(0o600)

        url = f"http://{host}:{server.server_port}"
        print(f"logpipe is running at {url}", flush=True)
        print(f"  API token: {settings.api_token}", flush=True)
        for line in stack.started:
            print(f"  {line}", flush=True)
        for spec in specs:
            what = dispatcher.served.get(spec.name, []) + [f"queue {q} x{workers}" for q in spec.queues]
            print(f"  function {spec.name}: {', '.join(what)}", flush=True)
        if requeued:
            print(f"  re-queued {requeued} unfinished message(s) from the last run", flush=True)
        if expired:
            print(f"  marked {expired} upload(s) failed: their links expired and nothing arrived", flush=True)
        print(f"  data: {data_dir}   (Ctrl-C stops everything)", flush=True)

        stopping = threading.Event()
        threading.Thread(target=_sweep_uploads, args=(settings, stopping), daemon=True, name="sweep").start()

        def _stop(*_: Any) -> None:
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        server.serve_forever()
        return 0
    finally:
        print("stopping...", file=sys.stderr, flush=True)
        (data_dir / "run.json").unlink(missing_ok=True)
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: the worker finishes the batch it is in, then leaves
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
        if server is not None:
            server.server_close()
        stack.stop(settings)
        print("stopped.", file=sys.stderr, flush=True)
