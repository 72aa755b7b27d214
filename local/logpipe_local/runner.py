"""``logpipe run``: every function of template.yaml on one machine.

HTTP events become routes of one local server; each function's module exposes its
WSGI ``app`` beside its Lambda ``handler``, and the server calls the app whose route
matches. The server is several processes that share one listening socket (one per core
by default, ``LOGPIPE_HTTP_PROCESSES``), each with its own apps and Postgres connections,
so that requests do not wait for one interpreter lock; a server process that dies is
started again, as a worker is. Queue events become ``--workers`` processes (see ``consumer``). Schedule events
become timers that call the handler with EventBridge's event, at the template's rate or
every ``LOGPIPE_SCHEDULE_S`` seconds if that is sooner. ``GET /metrics`` serves what
every function reported (the totals rollup-cron pushes to a Pushgateway on AWS).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from logpipe import aws, cron, logs, metrics
from logpipe.config import Settings
from logpipe.db import metrics as metrics_db
from logpipe.http import headers as security_headers
from logpipe.http.pool import Connections
from logpipe.ingest import Context
from logpipe.ingest.sweep import requeue_stalled
from logpipe.metrics import push

from . import template
from .consumer import LocalContext, run_worker, scheduled_event
from .process import name_process, stop_with_parent
from .server import MAX_CONNECTIONS, default_processes, listen, serve
from .stack import Stack, allow_origins
from .supervisor import Supervisor
from .web import DIST, WebApp

log = logging.getLogger("logpipe.local")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
METRICS_PATH = "/metrics"
HEALTH_PATH = "/health"


def schedule_every_s(spec: template.FunctionSpec, local_every_s: int) -> int:
    """How often the runner calls a scheduled function: at its template rate, or every
    ``local_every_s`` seconds if that is sooner (0: the template's rate only)."""
    rate = min(spec.schedules)
    return min(rate, local_every_s) if local_every_s > 0 else rate


def _run_on_schedule(
    spec: template.FunctionSpec, handler: Any, every_s: int, region: str, stop: threading.Event
) -> None:
    """Call ``handler`` now, then every ``every_s`` seconds, as EventBridge would."""
    while True:
        token = logs.current_function.set(spec.name)
        try:
            handler(scheduled_event(spec.name, region), LocalContext(spec.name, spec.timeout_s))
        except Exception:  # the function logged why; its next run tries again
            log.warning("scheduled run of %s failed; next in %d s", spec.name, every_s, exc_info=True)
        finally:
            logs.current_function.reset(token)
        if stop.wait(every_s):
            return


class MetricsPage:
    """``GET /metrics``: what every process reported, summed, and the pipeline's figures."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connections = Connections(settings)
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self.lock:
            ctx = Context(self.settings)
            try:
                metrics.report(ctx.conn)  # this process's own counts (its HTTP functions) first
                # Labelled as the Pushgateway labels the same figures: Prometheus's rules
                # take either road's and never add the two (infra/prometheus/prometheus.yml).
                stack = self.settings.stack
                totals = push.Totals(metrics_db.totals(ctx.conn, push.GAUGE_STALE_S))
                body = push.exposition(
                    push.Grouped(totals, push.grouping_key(stack, "functions")),
                    push.Grouped(cron.pipeline_collector(ctx), push.grouping_key(stack, "pipeline")),
                )
            finally:
                ctx.close()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]


class Dispatcher:
    """One WSGI app that routes each request to the function whose route matches: the routes
    of the function's HTTP events in the template, or, for a function behind a function URL,
    the routes its own app defines."""

    def __init__(
        self,
        specs: list[template.FunctionSpec],
        log_level: str,
        metrics_page: WsgiApp | None = None,
        consumers: Callable[[], dict[str, Any]] | None = None,
        web: WsgiApp | None = None,
        allowed_origin: str = "",
    ) -> None:
        """``consumers``: the workers' state (Supervisor.status), which /health adds; ``web``:
        the app of every path outside /api/ that no function serves. ``allowed_origin``, when
        set, replaces the origins the template allows (its AllowedOrigin parameter at its
        default) for every function."""
        self.metrics_page = metrics_page
        self.consumers = consumers
        self.web = web  # what no function serves (the web page), served as it is
        self.cors: dict[str, template.Cors | None] = {
            spec.name: replace(spec.cors, origins=(allowed_origin,)) if spec.cors and allowed_origin else spec.cors
            for spec in specs
        }
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
        if path == METRICS_PATH and method in ("GET", "HEAD") and self.metrics_page is not None:
            return self.metrics_page(environ, _answering(start_response, []))
        allowed: list[str] = []
        cors: template.Cors | None = None
        for matches, methods, name, app in self.table:
            if matches(path):
                cors = cors or self.cors.get(name)
                if method in methods or "ANY" in methods or (method == "HEAD" and "GET" in methods):
                    token = logs.current_function.set(name)
                    start = _answering(_counting_errors(name, start_response), _cors_headers(cors, environ))
                    try:
                        with metrics.invocation(name):  # the runner reports for its HTTP functions on a timer
                            if path == HEALTH_PATH and method == "GET" and self.consumers is not None:
                                return _with_consumers(app, environ, start, self.consumers())
                            return app(environ, start)
                    finally:
                        logs.current_function.reset(token)
                allowed += methods
        if method == "OPTIONS" and allowed:
            return _options(environ, start_response, cors, allowed)
        if not allowed and self.web is not None and not path.startswith("/api/"):
            return self.web(environ, start_response)  # what no function serves is the web app's
        status = "405 Method Not Allowed" if allowed else "404 Not Found"
        return _json(start_response, status, "method not allowed" if allowed else "no such route", allowed)


def _json(
    start_response: Callable[..., Any],
    status: str,
    error: str,
    allowed: list[str],
    extra: tuple[tuple[str, str], ...] = (),
) -> list[bytes]:
    body = json.dumps({"error": error}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra]
    if allowed:
        headers.append(("Allow", ", ".join([*allowed, "OPTIONS"])))
    _answering(start_response, [])(status, headers)
    return [body]


def _cors_headers(cors: template.Cors | None, environ: dict[str, Any]) -> list[tuple[str, str]]:
    """What an answer to a request from another origin carries when the function's front allows it."""
    origin = environ.get("HTTP_ORIGIN")
    if cors is None or not origin or not cors.allows(origin):
        return [("Vary", "Origin")] if cors is not None else []
    return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]


def _options(
    environ: dict[str, Any], start_response: Callable[..., Any], cors: template.Cors | None, allowed: list[str]
) -> Iterable[bytes]:
    """OPTIONS: a CORS preflight answered as the function's HTTP API or function URL would,
    or (without one) the methods the route takes."""
    requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
    if requested is None:
        _answering(start_response, [])("204 No Content", [("Allow", ", ".join([*allowed, "OPTIONS"]))])
        return []
    origin = environ.get("HTTP_ORIGIN", "")
    if cors is None or not cors.allows(origin) or requested.upper() not in cors.methods:
        return _json(
            start_response,
            "403 Forbidden",
            f"{origin or 'a page with no origin'} may not {requested} here: the allowed origin is "
            f"{', '.join(cors.origins) if cors else 'none'} (AllowedOrigin, LOGPIPE_ALLOWED_ORIGIN locally)",
            allowed,
            (("Vary", "Origin"),),
        )
    headers = [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", ", ".join(cors.methods)),
        ("Access-Control-Allow-Headers", ", ".join(cors.headers)),
        ("Vary", "Origin"),
    ]
    if cors.max_age_s:
        headers.append(("Access-Control-Max-Age", str(cors.max_age_s)))
    _answering(start_response, [])("204 No Content", headers)
    return []


def _answering(start_response: Callable[..., Any], extra: list[tuple[str, str]]) -> Callable[..., Any]:
    """``start_response`` that adds ``extra`` and the security headers the answer lacks."""

    def start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
        have = {k.lower() for k, _ in headers}
        headers = [*headers, *((k, v) for k, v in extra if k.lower() not in have)]
        return start_response(status, [*headers, *security_headers.missing(headers)], *rest)

    return start


def _with_consumers(
    app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any], state: dict[str, Any]
) -> Iterable[bytes]:
    """``/health`` as the app answers it, with the queue consumers' state added: a worker
    down makes it 503 (``failed: consumers``), saying which, since when and why."""
    answer: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], *_: Any) -> Callable[[bytes], None]:
        answer["status"], answer["headers"] = status, headers
        return lambda _data: None

    result = app(environ, capture)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = answer["status"], answer["headers"]
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        down = state["down"]
        doc["consumers"] = "down" if down else "ok"
        doc["consumer_restarts"] = state["restarts"]
        if down:
            doc["consumers_down"] = down
            if doc.get("status") == "ok":
                doc["status"], doc["failed"] = "unavailable", "consumers"
                doc["error"] = "; ".join(f"{d['worker']} is down since {d['since']} ({d['why']})" for d in down)
                status = "503 SERVICE UNAVAILABLE"
        body = json.dumps(doc).encode()
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]


def _counting_errors(function: str, start_response: Callable[..., Any]) -> Callable[..., Any]:
    """``start_response`` that counts a 5xx answer as an error of ``function``, as on AWS."""

    def start(status: str, headers: Any, *rest: Any) -> Any:
        if status[:1] == "5":
            metrics.INVOCATION_ERRORS.labels(function).inc()
        return start_response(status, headers, *rest)

    return start


def _matcher(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda path: pattern.match(path) is not None


def _rule_matcher(app: Any, rule: str) -> Callable[[str], bool]:
    """Whether a path is one of this Flask rule's (``/api/files/<file_id>`` and the like)."""
    from werkzeug.routing import Map, Rule

    one = Map([Rule(rule, endpoint="x")], converters=app.url_map.converters).bind("localhost")

    def matches(path: str) -> bool:
        return bool(one.test(path))

    return matches


@dataclass(frozen=True)
class HttpOptions:
    """What every server process is told (beside the environment)."""

    host: str
    idle_timeout_s: float
    max_connections: int
    allowed_origin: str


class SharedState:
    """The workers' state (``Supervisor.status``), which this process publishes and every
    server process's ``/health`` reads: the supervisor lives here, the requests there."""

    SIZE = 1 << 16

    def __init__(self, ctx: Any) -> None:
        self._buf = ctx.Array("c", self.SIZE)

    def publish(self, state: dict[str, Any]) -> None:
        data = json.dumps(state).encode()
        if len(data) >= self.SIZE:  # hundreds of workers down: say how many, not each
            data = json.dumps({"down": state["down"][:100], "restarts": state["restarts"]}).encode()
        with self._buf.get_lock():
            self._buf.value = data

    def read(self) -> dict[str, Any]:
        with self._buf.get_lock():
            data = self._buf.value
        return json.loads(data) if data else {"down": [], "restarts": 0}


def _publish(supervisor: Supervisor, state: SharedState, stopping: threading.Event) -> None:
    """Publish the workers' state five times a second (its ``restart_in_s`` counts down)."""
    while True:
        state.publish(supervisor.status())
        if stopping.wait(0.2):
            return


def serve_http(
    sock: socket.socket, env: dict[str, str], options: HttpOptions, workers: SharedState, ready: Any
) -> None:
    """One server process: every HTTP function of the template on the shared socket ``sock``,
    with its own Postgres connections, until SIGTERM."""
    name_process("logpipe-http")
    os.environ.update(env)
    settings = Settings.from_env()
    specs = template.load()
    web = WebApp(DIST, settings.aws_endpoint_url)
    app = Dispatcher(
        specs, settings.log_level, MetricsPage(settings), workers.read, web, allowed_origin=options.allowed_origin
    )
    # Made now rather than by the first requests, each of which would wait on it: the S3
    # client that presigns uploads (a second or more on a busy machine).
    aws.client("s3", settings)
    server = serve(options.host, 0, app, options.idle_timeout_s, options.max_connections, sock=sock)
    stopping = threading.Event()
    if settings.metrics:
        metrics.report_every(metrics.SERVER_REPORT_S, Connections(settings).get, stopping)

    def _stop(*_: Any) -> None:
        stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the runner stops us
    signal.signal(signal.SIGTERM, _stop)
    stop_with_parent()
    ready.set()
    server.serve_forever()


class HttpServers:
    """``processes`` server processes (``serve_http``) sharing one listening socket on
    ``host:port`` (bound at once, 0: any free port), each started again if it dies."""

    START_TIMEOUT_S = 120.0

    def __init__(
        self,
        host: str,
        port: int,
        env: dict[str, str],
        options: HttpOptions,
        processes: int,
        restart_s: float = 1,
        workers: SharedState | None = None,
    ) -> None:
        self._spawn = multiprocessing.get_context("spawn")
        self.sock = listen(host, port)
        self.port: int = self.sock.getsockname()[1]
        self.workers = workers or SharedState(self._spawn)
        self._env, self._options = env, options
        self._ready: dict[str, Any] = {}
        names = [f"http-{n}" for n in range(processes or default_processes())]
        self._supervisor = Supervisor(names, self._start, restart_s)
        self.processes = len(names)

    def _start(self, name: str) -> multiprocessing.process.BaseProcess:
        self._ready[name] = ready = self._spawn.Event()
        args = (self.sock, self._env, self._options, self.workers, ready)
        proc = self._spawn.Process(target=serve_http, args=args, name=name, daemon=True)
        proc.start()
        return proc

    def start(self) -> None:
        """Start every process and wait until each serves; fail loudly if one cannot."""
        self._supervisor.start()
        deadline = time.monotonic() + self.START_TIMEOUT_S
        for name, event in list(self._ready.items()):
            while not event.wait(0.2):
                down = self._supervisor.status()["down"]
                if down:
                    raise RuntimeError(f"the HTTP server process {name} could not start: {down[0]['why']}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the HTTP server process {name} did not start in {self.START_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        _end(self._supervisor.stop())
        self.sock.close()


def _end(procs: list[multiprocessing.process.BaseProcess]) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()


def own_origins(host: str, port: int) -> list[str]:
    """The origins of the runner's own pages: its address, and the loopback's other name."""
    names = {host, "127.0.0.1", "localhost"} if host in ("127.0.0.1", "localhost") else {host}
    return [f"http://{name}:{port}" for name in sorted(names)]


def run(
    port: int,
    data_dir: Path,
    workers: int,
    host: str = "127.0.0.1",
    moto_port: int = 0,
    schedule_s: int = 10,
    restart_s: int = 1,
    http_idle_timeout_s: int = 30,
    allowed_origin: str = "",
    http_processes: int = 0,
    http_max_connections: int = MAX_CONNECTIONS,
) -> int:
    """``http_processes`` server processes share the port (0: ``default_processes()``), each
    with at most ``http_max_connections`` connections at once."""
    stack = Stack(data_dir, moto_port)
    settings: Settings | None = None
    procs: list[multiprocessing.process.BaseProcess] = []
    supervisor: Supervisor | None = None
    servers: HttpServers | None = None
    try:
        settings = stack.start()
        specs = template.load()
        # Loaded before the dispatcher, whose start sets the runner's own logging back.
        scheduled = [(spec, spec.handler_function()) for spec in specs if spec.schedules]
        spawn = multiprocessing.get_context("spawn")
        prefixes = ("PSQL_", "AWS_", "LOGPIPE_", "RABBITMQ_", "GITHUB_")
        env = {k: v for k, v in os.environ.items() if k.startswith(prefixes)}
        consumer_of = {f"{spec.name}-{n}": spec.name for spec in specs if spec.queues for n in range(workers)}

        def start_worker(name: str) -> multiprocessing.process.BaseProcess:
            worker = spawn.Process(target=run_worker, args=(consumer_of[name], env), name=name, daemon=True)
            worker.start()
            return worker

        supervisor = Supervisor(list(consumer_of), start_worker, restart_s)
        web = WebApp(DIST, settings.aws_endpoint_url)
        # This process's dispatcher only says what is served; the server processes have their own.
        dispatcher = Dispatcher(specs, settings.log_level, web=web)
        options = HttpOptions(host, http_idle_timeout_s, http_max_connections, allowed_origin)
        servers = HttpServers(host, port, env, options, http_processes, restart_s)
        allow_origins(settings, own_origins(host, servers.port) + ([allowed_origin] if allowed_origin else []))
        ctx = Context(settings)
        try:
            requeued = requeue_stalled(ctx)  # what the last run left under way: its messages may be gone
        finally:
            ctx.close()

        supervisor.start()  # workers that die are started again, and /health says so meanwhile
        stopping = threading.Event()
        threading.Thread(
            target=_publish, args=(supervisor, servers.workers, stopping), daemon=True, name="workers-state"
        ).start()
        servers.start()

        run_file = data_dir / "run.json"  # lets `logpipe dlq ...` reach this stack while it runs
        run_file.write_text(json.dumps({"pid": os.getpid(), "env": env}), encoding="utf-8")
        run_file.chmod(0o600)

        url = f"http://{host}:{servers.port}"
        print(f"logpipe is running at {url}", flush=True)
        print(f"  API token: {settings.api_token}", flush=True)
        print(f"  GitHub webhook: {url}/webhook/github  secret: {settings.github_webhook_secret}", flush=True)
        if web.built:
            print(f"  web app: {url}/#token={quote(settings.api_token, safe='')}", flush=True)
        else:
            print("  web app: not built (make run builds frontend/)", flush=True)
        for line in stack.started:
            print(f"  {line}", flush=True)
        for spec in specs:
            what = dispatcher.served.get(spec.name, []) + [f"queue {q} x{workers}" for q in spec.queues]
            what += [f"every {schedule_every_s(spec, schedule_s)} s" for _ in spec.schedules[:1]]
            print(f"  function {spec.name}: {', '.join(what)}", flush=True)
        print(f"  metrics: {url}{METRICS_PATH}", flush=True)
        print(
            f"  http: {servers.processes} server processes, up to {http_max_connections} connections each",
            flush=True,
        )
        if requeued:
            print(f"  re-queued {requeued} unfinished message(s) from the last run", flush=True)
        print(f"  data: {data_dir}   (Ctrl-C stops everything)", flush=True)

        for spec, handler in scheduled:
            every = schedule_every_s(spec, schedule_s)
            args = (spec, handler, every, settings.aws_region, stopping)
            threading.Thread(target=_run_on_schedule, args=args, daemon=True, name=f"schedule-{spec.name}").start()
        if settings.metrics:
            metrics.report_every(metrics.SERVER_REPORT_S, Connections(settings).get, stopping)

        def _stop(*_: Any) -> None:
            stopping.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        while not stopping.wait(1):
            pass
        return 0
    finally:
        print("stopping...", file=sys.stderr, flush=True)
        (data_dir / "run.json").unlink(missing_ok=True)
        if servers is not None:
            servers.stop()
        if supervisor is not None:
            procs = supervisor.stop()
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: the worker finishes the batch it is in, then leaves
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
        stack.stop(settings)
        print("stopped.", file=sys.stderr, flush=True)
