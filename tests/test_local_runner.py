"""The local runner as a new user meets it: `logpipe run` on embedded defaults, and `logpipe invoke`."""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from logpipe.config import Settings
from logpipe.github.signature import sign
from logpipe.http import deps

from conftest import ROOT, query, settings_env

LOGPIPE = str(Path(sys.executable).with_name("logpipe"))
SAM = ROOT / ".venv-sam" / "bin" / "sam"
EMBEDDED_ENV = ("PSQL_ADDR", "PSQL_PORT", "PSQL_USER", "PSQL_PASS", "PSQL_DB", "AWS_ENDPOINT_URL", "RABBITMQ_URL")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in EMBEDDED_ENV and not k.startswith(("LOGPIPE_", "GITHUB_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Running:
    """``logpipe run`` in a process of its own; its output is read by a thread, so that
    waiting for its banner ends at a deadline even if it prints nothing."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [LOGPIPE, "--data-dir", str(data_dir), "run", "--port", "0", "--workers", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**_clean_env(), **(env or {})},
            start_new_session=True,  # a process group of its own, as a terminal or a process manager gives it
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.banner: list[str] = []
        deadline = time.monotonic() + 120
        while (line := self._next_line(deadline)) is not None:
            self.banner.append(line)
            if line.startswith("  data:"):
                break
        text = "\n".join(self.banner)
        url = re.search(r"logpipe is running at (http://\S+)", text)
        token = re.search(r"API token: (\S+)", text)
        s3 = re.search(r"s3\+sqs: embedded \(moto server\) at (http://\S+)", text)
        assert url and token and s3, text
        self.url, self.token, self.s3_endpoint = url.group(1), token.group(1), s3.group(1)
        hook = re.search(r"GitHub webhook: (http://\S+)  secret: (\S+)", text)
        assert hook, text
        self.webhook_url, self.webhook_secret = hook.group(1), hook.group(2)
        self.text = text
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.output.append(line)
                self._lines.put(line.rstrip())
        self._lines.put(None)

    def _next_line(self, deadline: float) -> str | None:
        """The next line printed, None once the process closed its output; fails at ``deadline``."""
        try:
            return self._lines.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            self.proc.kill()
            raise AssertionError("`logpipe run` printed no banner in time:\n" + "".join(self.output)) from None

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=90)  # a guard against a hang, not a timing assertion
        self._reader.join(timeout=10)
        out = "".join(self.output)
        assert self.proc.returncode == 0, out
        return out

    def upload(self, name: str, data: bytes) -> str:
        created = requests.post(
            f"{self.url}/api/uploads", json={"filename": name, "size": len(data)}, headers=self.headers, timeout=10
        )
        assert created.status_code == 201, created.text
        up = created.json()
        sent = requests.post(up["upload"]["url"], data=up["upload"]["fields"], files={"file": ("f", data)}, timeout=30)
        assert sent.status_code == 204, sent.text
        return str(up["file_id"])


def _wait_done(run: Running, file_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        f = requests.get(f"{run.url}/api/files/{file_id}", headers=run.headers, timeout=10).json()
        if f["status"] in ("done", "failed"):
            return f  # type: ignore[no-any-return]
        time.sleep(0.3)
    raise AssertionError(f"file {file_id} did not finish: {f}")


@pytest.mark.services  # `logpipe run` starts its embedded PostgreSQL and moto
def test_run_on_embedded_defaults_then_restart_keeps_data(tmp_path: Path) -> None:
    data = b"".join(b"2026-11-27T10:00:%02dZ INFO request %d served\n" % (i % 60, i) for i in range(500))
    run = Running(tmp_path)
    try:
        assert "postgres: embedded (pgserver)" in "\n".join(run.banner)
        assert requests.get(f"{run.url}/health", timeout=10).json()["status"] == "ok"
        assert requests.get(f"{run.url}/api/files", timeout=10).status_code == 401
        file_id = run.upload("first run.log", data)
        f = _wait_done(run, file_id)
        assert (f["status"], f["lines"], f["events"], f["name"]) == ("done", 500, 500, "first run.log")
        # The webhook it printed takes a delivery signed with the secret it printed.
        ping = b'{"zen":"Design for failure.","hook_id":1}'
        signed = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "p-1", "Content-Type": "application/json"}
        signed["X-Hub-Signature-256"] = sign(run.webhook_secret, ping)
        answer = requests.post(run.webhook_url, data=ping, headers=signed, timeout=10)
        assert answer.status_code == 200 and answer.json()["zen"] == "Design for failure."
        assert (tmp_path / "github-webhook-secret").stat().st_mode & 0o077 == 0
    finally:
        run.stop()

    again = Running(tmp_path)
    try:
        assert again.token == run.token  # the generated token is kept with the data
        assert again.webhook_secret == run.webhook_secret  # and so is the webhook's secret
        files = requests.get(f"{again.url}/api/files", headers=again.headers, timeout=10).json()["files"]
        assert [(f["id"], f["status"], f["events"]) for f in files] == [(file_id, "done", 500)]
        s3 = boto3.client("s3", endpoint_url=again.s3_endpoint, region_name="us-east-1")
        body = s3.get_object(Bucket="logpipe-uploads", Key=f"uploads/{file_id}")["Body"].read()
        assert body == data  # moto keeps nothing itself: the runner saved and restored the bucket
    finally:
        again.stop()


def sam_event(*args: str) -> str:
    """What ``sam local generate-event ARGS`` prints."""
    assert SAM.exists(), "make test installs the SAM CLI in .venv-sam"
    return subprocess.run(
        [str(SAM), "local", "generate-event", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    ).stdout


def _cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)


def test_invoke_accepts_what_sam_generate_event_prints(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    from logpipe.aws import client
    from logpipe_local.cli import main

    settings = make_settings()
    _cli_env(monkeypatch, settings)
    key = "dropped in/by hand.log"
    client("s3", settings).put_object(Bucket=settings.bucket, Key=key, Body=b'{"level":"error","msg":"boom"}\n' * 3)
    generated = sam_event("s3", "put", "--bucket", settings.bucket, "--key", key)
    event = tmp_path / "s3-put.json"
    event.write_text(generated)
    assert main(["--data-dir", str(tmp_path), "invoke", "parse-worker", "--event", str(event)]) == 0
    assert json.loads(capsys.readouterr().out) == {"batchItemFailures": []}
    rows = query(settings, "SELECT status, events, errors FROM files WHERE name = :k", k=key)
    assert rows == [["done", 3, 3]]

    health = sam_event("apigateway", "http-api-proxy", "--method", "GET", "--path", "health")
    event.write_text(health)
    assert main(["--data-dir", str(tmp_path), "invoke", "query-api", "--event", str(event)]) == 0
    response = json.loads(capsys.readouterr().out)
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["status"] == "ok"
    # The handlers keep their connections for the next invocation, as in a warm Lambda container.
    sys.modules["parse_worker"]._ctx.close()
    deps.close(sys.modules["query_api"].app)


def test_run_uses_configured_postgres_and_rabbitmq(tmp_path: Path, rabbit_vhost: str) -> None:
    from urllib.parse import quote

    from conftest import PG_HOST, PG_PORT, PG_USER, RABBIT, drop_database, make_database

    database = make_database()
    queue = f"logpipe.runner.{os.getpid()}"
    env = {
        "PSQL_ADDR": PG_HOST,
        "PSQL_PORT": str(PG_PORT),
        "PSQL_USER": PG_USER,
        "PSQL_DB": database,
        "RABBITMQ_URL": f"{RABBIT}/{quote(rabbit_vhost, safe='')}",
        "LOGPIPE_RABBITMQ_QUEUE": queue,
        "LOGPIPE_CHUNK_BYTES": "8192",  # several chunks, so chunk tasks travel through RabbitMQ
    }
    try:
        run = Running(tmp_path, env)
        try:
            assert "postgres: 127.0.0.1:5432 (configured)" in run.text.replace(PG_HOST, "127.0.0.1")
            assert "rabbitmq:" in run.text and "(configured)" in run.text
            data = b"".join(
                b'{"ts":%d,"level":"warn","msg":"slow request %d"}\n' % (1764230400 + i, i) for i in range(3000)
            )
            f = _wait_done(run, run.upload("through rabbit.log", data))
            assert (f["status"], f["lines"], f["events"]) == ("done", 3000, 3000)
        finally:
            run.stop()
        rows = query(
            Settings.from_env({}, psql_addr=PG_HOST, psql_port=PG_PORT, psql_user=PG_USER, psql_db=database),
            "SELECT count(*), count(DISTINCT line), (SELECT count(*) FROM chunks) FROM events",
        )
        assert rows[0][:2] == [3000, 3000] and rows[0][2] > 1
    finally:
        drop_database(database)


def test_runner_logs_each_request_under_its_function_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One process serves every HTTP function: a request's log lines name the function
    that served it, and the process's own lines name the runner, whatever loaded last."""
    from werkzeug.test import Client

    from logpipe_local.runner import Dispatcher
    from logpipe_local.template import FunctionSpec, _route

    for name in ("alpha-fn", "beta-fn"):
        folder = tmp_path / name
        folder.mkdir()
        module = name.replace("-", "_") + "_mod"
        (folder / f"{module}.py").write_text(
            "import logging\n"
            "from logpipe import logs\n"
            f"logs.configure({name!r}, 'INFO')\n"
            "def app(environ, start_response):\n"
            f"    logging.getLogger('t').warning('served by %s', {name!r})\n"
            "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    return [b'ok']\n",
            encoding="utf-8",
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    specs = [
        FunctionSpec(n, tmp_path / n, f"{n.replace('-', '_')}_mod.app", 3, routes=[_route("GET", f"/{n}")])
        for n in ("alpha-fn", "beta-fn")
    ]
    client = Client(Dispatcher(specs, "INFO"))
    capsys.readouterr()
    for name in ("alpha-fn", "beta-fn", "alpha-fn"):
        assert client.get(f"/{name}").status_code == 200
    logging.getLogger("t").warning("between requests")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["function"], line["message"]) for line in lines] == [
        ("alpha-fn", "served by alpha-fn"),
        ("beta-fn", "served by beta-fn"),
        ("alpha-fn", "served by alpha-fn"),
        ("logpipe-run", "between requests"),
    ]


def _provisioned(settings: Settings) -> tuple[int, int, list[dict[str, Any]]]:
    """What the bucket and the ingest queue were given: visibility, redrive count, CORS rules."""
    from logpipe.aws import client

    sqs = client("sqs", settings)
    url = sqs.get_queue_url(QueueName=settings.ingest_queue)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"])["Attributes"]
    cors = client("s3", settings).get_bucket_cors(Bucket=settings.bucket)["CORSRules"]
    return int(attrs["VisibilityTimeout"]), int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"]), cors


def _declared(path: Path) -> tuple[int, int, list[dict[str, Any]]]:
    """The same, read straight from a template (a deployment with no parameter set)."""
    import yaml

    from logpipe_local.template import _CfnLoader

    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    queue = doc["Resources"]["IngestQueue"]["Properties"]
    origin = doc["Parameters"]["AllowedOrigin"]["Default"]
    names = {"ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}  # CloudFormation's and S3's
    cors = [
        {names.get(k, k): [origin if o == {"Ref": "AllowedOrigin"} else o for o in v] if k == "AllowedOrigins" else v
         for k, v in rule.items()}
        for rule in doc["Resources"]["UploadBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    ]  # fmt: skip
    return int(queue["VisibilityTimeout"]), int(queue["RedrivePolicy"]["maxReceiveCount"]), cors


@pytest.mark.parametrize("edited", [False, True], ids=["template", "edited-template"])
def test_the_runner_provisions_what_the_template_declares(
    make_settings: Callable[..., Settings], tmp_path: Path, edited: bool
) -> None:
    """CORS, the redrive count and the visibility timeout come from template.yaml, so an
    edit there reaches `logpipe run` too. The visibility is the template's capped by one
    rule (stack.LOCAL_RECOVERY_S): the local heartbeat extends it while a worker lives."""
    from logpipe_local.stack import LOCAL_RECOVERY_S, provision_aws

    settings = make_settings()  # provisioned from template.yaml
    path = ROOT / "template.yaml"
    if edited:
        text = path.read_text(encoding="utf-8")
        for old, new in (
            ("VisibilityTimeout: 5400", "VisibilityTimeout: 45"),
            ("maxReceiveCount: 10", "maxReceiveCount: 4"),
            ('Default: "http://localhost:8080"', 'Default: "https://logs.example.org"'),
            ("ExposedHeaders: [ETag]", "ExposedHeaders: [ETag, x-amz-version-id]"),
        ):
            assert old in text, old
            text = text.replace(old, new)
        path = tmp_path / "template.yaml"
        path.write_text(text, encoding="utf-8")
        tag = uuid.uuid4().hex[:8]
        settings = replace(settings, bucket=f"edited-{tag}", ingest_queue=f"edited-{tag}", dead_letter_queue=f"d-{tag}")
        provision_aws(settings, path)

    visibility, receives, cors = _declared(path)
    assert _provisioned(settings) == (min(visibility, LOCAL_RECOVERY_S), receives, cors)


def _worker_pids(run: Running) -> list[int]:
    """The runner's worker processes (its children started by multiprocessing's spawn, but
    for its HTTP server processes and moto's, which name themselves)."""
    children: list[str] = []
    for task in Path(f"/proc/{run.proc.pid}/task").iterdir():
        children += (task / "children").read_text().split()
    pids = []
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline and _comm(pid) not in ("logpipe-http", "logpipe-moto"):
            pids.append(int(pid))
    return pids


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""


def _wait_health(run: Running, wanted: Callable[[requests.Response], bool], what: str) -> dict[str, Any]:
    """Ask /health until its answer is ``wanted``; fails loudly after 60 s."""
    deadline = time.monotonic() + 60
    last: Any = None
    while time.monotonic() < deadline:
        r = requests.get(f"{run.url}/health", timeout=10)
        last = (r.status_code, r.text)
        if wanted(r):
            return r.json()  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"/health never said {what}; last: {last}")


@pytest.mark.services  # `logpipe run` starts its embedded PostgreSQL and moto
@pytest.mark.faults  # a minute of waiting for restarts and a redelivery: in `make test-faults`
def test_runner_restarts_workers_killed_with_sigkill_and_health_says_so_meanwhile(tmp_path: Path) -> None:
    run = Running(tmp_path, env={"LOGPIPE_WORKER_RESTART_S": "3"})
    try:
        h = _wait_health(run, lambda r: r.status_code == 200, "ok")
        assert (h["consumers"], h["consumer_restarts"]) == ("ok", 0)
        killed = _worker_pids(run)
        assert len(killed) == 2, killed
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        h = _wait_health(run, lambda r: r.status_code == 503, "a consumer is down")
        assert h["failed"] == "consumers" and "SIGKILL" in h["error"], h
        assert {d["worker"] for d in h["consumers_down"]} <= {"parse-worker-0", "parse-worker-1"}
        data = b"".join(b"2026-11-27T10:00:%02dZ INFO request %d served\n" % (i % 60, i) for i in range(300))
        file_id = run.upload("after the kill.log", data)  # sent while the workers are down
        f = _wait_done(run, file_id)
        assert (f["status"], f["lines"], f["events"]) == ("done", 300, 300)
        h = _wait_health(run, lambda r: r.status_code == 200, "ok again")
        assert (h["consumers"], h["consumer_restarts"]) == ("ok", 2)
        again = _worker_pids(run)
        assert len(again) == 2 and not set(again) & set(killed)
    finally:
        run.stop()


@pytest.mark.services  # the runner's embedded moto server
def test_the_embedded_moto_still_counts_dedupes_and_hands_out_what_is_sent() -> None:
    """The runner's moto sends and receives without walking its queue (see ``cheaper_moto``):
    the counts it reports, a FIFO queue's content-based deduplication and the messages it
    hands out, each once, are moto's own."""
    from logpipe_local.stack import MotoProcess

    moto = MotoProcess(0)
    try:
        sqs = boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{moto.port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        plain = sqs.create_queue(QueueName="plain")["QueueUrl"]
        for n in range(30):
            sqs.send_message(QueueUrl=plain, MessageBody=f"m{n}")
        sqs.send_message_batch(QueueUrl=plain, Entries=[{"Id": str(n), "MessageBody": f"b{n}"} for n in range(5)])
        got = sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]
        assert got["ApproximateNumberOfMessages"] == "35"
        assert "ContentBasedDeduplication" not in got
        received: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=plain, MaxNumberOfMessages=10, VisibilityTimeout=600).get(
            "Messages", []
        ):
            received += batch
        bodies = [m["Body"] for m in received]
        assert sorted(bodies) == sorted([f"m{n}" for n in range(30)] + [f"b{n}" for n in range(5)])
        got = sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]
        assert (got["ApproximateNumberOfMessages"], got["ApproximateNumberOfMessagesNotVisible"]) == ("0", "35")
        for at in range(0, 30, 10):  # the last five are left, in the middle of the queue's order
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received[at : at + 10])
            ]
            assert len(sqs.delete_message_batch(QueueUrl=plain, Entries=entries)["Successful"]) == len(entries)
        sqs.delete_message(QueueUrl=plain, ReceiptHandle=received[0]["ReceiptHandle"])  # again: moto says nothing
        with pytest.raises(ClientError, match="ReceiptHandleIsInvalid"):
            sqs.delete_message(QueueUrl=plain, ReceiptHandle="not-a-handle")
        got = sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]
        assert got["ApproximateNumberOfMessagesNotVisible"] == "5"
        sqs.change_message_visibility_batch(
            QueueUrl=plain,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, m in enumerate(received[30:])
            ],
        )
        again = sqs.receive_message(QueueUrl=plain, MaxNumberOfMessages=10).get("Messages", [])
        assert sorted(m["Body"] for m in again) == sorted(bodies[30:])
        # A delayed message: counted as delayed, not handed out before its time, then found by
        # a long poll that waits for it.
        sqs.send_message(QueueUrl=plain, MessageBody="later", DelaySeconds=2)
        got = sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]
        assert (got["ApproximateNumberOfMessages"], got["ApproximateNumberOfMessagesDelayed"]) == ("0", "1")
        assert sqs.receive_message(QueueUrl=plain).get("Messages", []) == []
        waited = sqs.receive_message(QueueUrl=plain, WaitTimeSeconds=10).get("Messages", [])
        assert [m["Body"] for m in waited] == ["later"]
        # A message received as often as the redrive policy allows goes to the dead-letter queue.
        dlq = sqs.create_queue(QueueName="plain-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1})
        once = sqs.create_queue(QueueName="once", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
        sqs.send_message_batch(QueueUrl=once, Entries=[{"Id": str(n), "MessageBody": f"d{n}"} for n in range(3)])
        first = sqs.receive_message(QueueUrl=once, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        assert sorted(m["Body"] for m in first) == ["d0", "d1", "d2"]
        assert sqs.receive_message(QueueUrl=once, MaxNumberOfMessages=10).get("Messages", []) == []
        dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        assert sorted(m["Body"] for m in dead) == ["d0", "d1", "d2"]
        fifo = sqs.create_queue(
            QueueName="dedupe.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        )["QueueUrl"]
        for _ in range(3):
            sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
        sqs.send_message(QueueUrl=fifo, MessageBody="other", MessageGroupId="g")
        got = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["All"])["Attributes"]
        assert (got["ApproximateNumberOfMessages"], got["ContentBasedDeduplication"]) == ("2", "true")
    finally:
        moto.stop()


def _spawned_children(pid: int) -> dict[int, str]:
    """The processes ``pid`` started through multiprocessing's spawn, by their names."""
    found: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found[int(child)] = _comm(child)
            except FileNotFoundError:
                continue
    return found


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its new parent to reap it has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.services  # `logpipe run` on the real PostgreSQL (an embedded one would outlive the kill)
def test_a_runner_killed_with_sigkill_leaves_no_server_moto_or_worker_behind(tmp_path: Path) -> None:
    from conftest import PG_HOST, PG_PORT, PG_USER, drop_database, make_database

    database = make_database()
    env = {"PSQL_ADDR": PG_HOST, "PSQL_PORT": str(PG_PORT), "PSQL_USER": PG_USER, "PSQL_DB": database}
    try:
        run = Running(tmp_path, env)
        try:
            _wait_health(run, lambda r: r.status_code == 200, "ok")
            children = _spawned_children(run.proc.pid)
            names = sorted(children.values())
            assert names.count("logpipe-moto") == 1 and names.count("logpipe-http") >= 2, names
            assert len(_worker_pids(run)) == 2, names
            os.kill(run.proc.pid, signal.SIGKILL)
            run.proc.wait(timeout=30)
            deadline = time.monotonic() + 60  # each child looks for its parent once a second
            while (left := {p: n for p, n in children.items() if _running(p)}) and time.monotonic() < deadline:
                time.sleep(0.2)
            for pid in left:
                os.kill(pid, signal.SIGKILL)  # this test's failure must not leave them running either
            assert not left, f"still running after the runner was killed: {left}"
        finally:
            if run.proc.poll() is None:
                run.proc.kill()
    finally:
        drop_database(database)


@pytest.mark.services  # `logpipe run` starts its embedded PostgreSQL and moto
def test_sigterm_to_the_runners_whole_group_still_saves_the_bucket(tmp_path: Path) -> None:
    """A process manager (or `timeout`) signals the whole group, moto among it: the runner
    must still save the bucket and queues from moto before it stops."""
    run = Running(tmp_path)
    try:
        _wait_health(run, lambda r: r.status_code == 200, "ok")
        file_id = run.upload("kept.log", b"2026-12-01T04:00:00Z INFO kept across a stop\n")
        assert _wait_done(run, file_id)["status"] == "done"
        os.killpg(run.proc.pid, signal.SIGTERM)
        run.proc.wait(timeout=90)  # a guard against a hang, not a timing assertion
        run._reader.join(timeout=10)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    out = "".join(run.output)
    assert "could not save" not in out, out
    again = Running(tmp_path)
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=again.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="logpipe-uploads").get("Contents", [])]
        assert f"uploads/{file_id}" in keys, keys
    finally:
        again.stop()
