"""The services the pipeline needs, embedded when none is configured.

- Postgres: ``PSQL_*`` if set, else ``pgserver`` under ``<data-dir>/postgres``.
- S3 and SQS: ``AWS_ENDPOINT_URL`` if set, else moto's server on 127.0.0.1, in a process of
  its own. Moto keeps nothing on disk, so at stop the bucket's objects and the queues'
  messages are saved under ``<data-dir>/moto`` and put back at the next start.
- RabbitMQ: ``RABBITMQ_URL`` if set (never embedded).

``Stack.start()`` provisions what the template would create in AWS (bucket, CORS,
notification, queues with their redrive policy) and migrates the database.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import secrets
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logpipe import db
from logpipe.aws import client
from logpipe.config import Settings
from logpipe.db.migrate import migrate
from logpipe.errors import ServiceUnavailableError
from logpipe.queue import all_queues

from . import cheaper_forms, template
from .process import name_process, stop_with_parent

log = logging.getLogger("logpipe.local")

# The template's visibility timeout is six times the worker's timeout, as Lambda asks of a
# function that cannot extend it: a message held by a worker killed with -9 would stay
# hidden that long (90 minutes). The local consumer extends a message's visibility while
# its worker lives (a heartbeat every third of it), so the queue's own can be short: the
# local one is the template's, capped so that a killed worker's message is back within a
# minute. Everything else the runner provisions is the template's as written.
LOCAL_RECOVERY_S = 60


def local_visibility_s(template_visibility_s: int) -> int:
    """The visibility timeout of a queue in the local runner, from the template's (see above)."""
    return min(template_visibility_s, LOCAL_RECOVERY_S)


_sending = threading.local()


class _Visible:
    """A queue's visible messages, as moto's ``Queue.messages`` lists them, without making the
    list: a receive walks the queue only until it has its messages (past those in flight,
    at the queue's front), and a long poll's check stops at the first visible one."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __iter__(self) -> Any:
        return (m for m in self._queue._messages if m.visible and not m.delayed)

    def __bool__(self) -> bool:
        return any(True for _ in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def cheaper_moto() -> None:
    """Make moto's server cost the same for each request however deep its queues are, and
    stop it looking for its own modules on disk at each request. moto is the embedded S3
    and SQS: every upload, notification and receive of ``logpipe run`` goes through it,
    and on a laptop it shares the cores with the workers it feeds.

    - Dispatch: for each request moto lists its package's directory, with a stat of each
      of its 150 or so entries, to see whether the request's host names one of its
      modules (about a fifth of its time on a small file's requests). The list is made
      once.
    - SendMessage and ReceiveMessage read one attribute of the queue through
      ``Queue.attributes``, which computes all of them, the approximate message counts
      among them by walks over every message the queue holds. A send reads
      ContentBasedDeduplication (only a FIFO queue has it): each upload's notification cost
      grew with the backlog (20 ms of moto's time behind 1,500 queued files, more than the
      rest of the upload). A receive reads MessageRetentionPeriod for every message it hands
      out, twice each: a receive of 10 from a queue of 300 took 100 to 400 ms. Within a send
      that attribute is computed alone, and a receive reads the retention period from the
      queue itself; everywhere else ``attributes`` is moto's own.
    - A receive made the list of every visible message before taking its ten, and a delete
      walked the whole queue twice and copied it: behind 5,000 queued small files, moto
      spent 6.4 ms on each instead of 3.9. The visible messages are walked lazily
      (``_Visible``), and a delete walks until it finds its message and removes it in place
      (moto's copy could also drop a message sent while it was being made).
    - Uploads: a presigned POST's form is read without compiling its boundary into a
      pattern (``cheaper_forms``).
    """
    from moto import backends
    from moto.core.utils import unix_time
    from moto.sqs import models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    full = models.Queue.attributes
    send = models.SQSBackend.send_message
    if getattr(send, "logpipe_cheaper", False) or not isinstance(full, property) or full.fget is None:
        return
    every = full.fget

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    def attributes(queue: Any) -> dict[str, Any]:
        if not getattr(_sending, "active", False):
            return every(queue)  # type: ignore[no-any-return]
        if not queue.fifo_queue:
            return {}
        return {"ContentBasedDeduplication": str(bool(queue.content_based_deduplication)).lower()}

    def send_message(backend: Any, *args: Any, **kwargs: Any) -> Any:
        _sending.active = True
        try:
            return send(backend, *args, **kwargs)
        finally:
            _sending.active = False

    def retained(backend: Any, queue_name: str, message: Any) -> bool:
        """moto's own rule (kept until sent + retention period), without its attribute walk."""
        retention_s = int(backend.get_queue(queue_name).message_retention_period)
        return bool(retention_s + message.sent_timestamp / 1000 > unix_time())

    def delete_message(queue: Any, receipt_handle: str) -> None:
        """moto's ``Queue.delete_message``: a handle deleted already is no error, one never
        handed out is."""
        if receipt_handle in queue.deleted_messages:
            return
        with queue._messages_lock:  # as a send appends
            held = queue._messages
            at = next((n for n, m in enumerate(held) if m.had_receipt_handle(receipt_handle)), None)
            if at is None:
                raise ReceiptHandleIsInvalid()
            message = held.pop(at)
        queue.pending_messages.discard(message)
        queue.deleted_messages.update(message.all_receipt_handles)

    cheaper_forms.apply()
    send_message.logpipe_cheaper = True  # type: ignore[attr-defined]
    models.Queue.attributes = property(attributes)  # type: ignore[assignment]
    models.Queue.messages = property(_Visible)  # type: ignore[assignment]
    models.Queue.delete_message = delete_message  # type: ignore[method-assign]
    models.SQSBackend.send_message = send_message  # type: ignore[method-assign]
    models.SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]


def _serve_moto(port: int, bound: Any, ready: Any, stopping: Any) -> None:
    """moto's server in a process of its own, until the runner sets ``stopping`` or is gone.

    Signals do not stop it: a SIGTERM or Ctrl-C sent to the runner's whole process group (a
    process manager, `timeout`, a terminal) reaches moto too, and moto must outlive them
    until the runner has saved the bucket and queues from it.
    """
    from moto.server import ThreadedMotoServer

    name_process("logpipe-moto")
    cheaper_moto()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stop_with_parent(then=stopping.set)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    bound.value = server.get_host_and_port()[1]
    ready.set()
    stopping.wait()
    server.stop()


class MotoProcess:
    """The embedded S3 and SQS: moto's server, in a process of its own so that its work (it
    parses every upload's multipart form and signs every answer) takes no turn of the
    interpreter lock from the HTTP server or the workers."""

    START_TIMEOUT_S = 120.0

    def __init__(self, port: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        bound, ready, self._stopping = spawn.Value("i", 0), spawn.Event(), spawn.Event()
        self._proc = spawn.Process(
            target=_serve_moto, args=(port, bound, ready, self._stopping), name="moto", daemon=True
        )
        self._proc.start()
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while not ready.wait(0.2):
            if not self._proc.is_alive() or time.monotonic() > deadline:
                self.stop()
                why = f"exit status {self._proc.exitcode}" if self._proc.exitcode is not None else "timed out"
                raise ServiceUnavailableError("s3", f"moto's server did not start on port {port} ({why})")
        self.port = int(bound.value)

    def stop(self) -> None:
        self._stopping.set()
        self._proc.join(timeout=30)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


@dataclass
class Stack:
    data_dir: Path
    moto_port: int = 0  # of the embedded moto server; 0 takes any free port
    started: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    _pg: Any = None
    _moto: MotoProcess | None = None

    # -- start ---------------------------------------------------------------------------
    def start(self) -> Settings:
        """Start or reach every service and return the settings that point at them."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The values come from Settings; whether a service is configured at all is whether
        # its variable is set, which Settings (with its defaults for Lambda) cannot tell.
        configured = Settings.from_env()
        self.env["LOGPIPE_API_TOKEN"] = configured.api_token or self._token()
        self.env["GITHUB_WEBHOOK_SECRET"] = configured.github_webhook_secret or self._token("github-webhook-secret")
        self._postgres(configured)
        self._aws()
        os.environ.update(self.env)
        settings = Settings.from_env()
        if settings.rabbitmq_url:
            from logpipe.queue.rabbitmq import RabbitQueue

            q = RabbitQueue(settings)
            try:
                q.ping()
            finally:
                q.close()
            self.started.append(f"rabbitmq: {settings.rabbitmq_url.split('@')[-1]} (configured)")
        self.provision(settings)
        return settings

    def _token(self, name: str = "api-token") -> str:
        """A secret generated once and kept in the data folder (readable by its owner only)."""
        path = self.data_dir / name
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()

    def _postgres(self, configured: Settings) -> None:
        if os.environ.get("PSQL_ADDR"):
            self.started.append(f"postgres: {configured.psql_addr}:{configured.psql_port} (configured)")
            return
        import warnings

        # platformdirs, under pgserver, warns when XDG_RUNTIME_DIR is unset; /tmp serves.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from pgserver.postgres_server import get_server

        pgdata = self.data_dir / "postgres"
        self._pg = get_server(pgdata, cleanup_mode="stop")
        uri = self._pg.get_uri()
        socket_dir = uri.split("host=", 1)[1].split("&", 1)[0]
        self.env.update({"PSQL_ADDR": socket_dir, "PSQL_PORT": "5432", "PSQL_USER": "postgres", "PSQL_PASS": ""})
        self.env.setdefault("PSQL_DB", configured.psql_db)
        self.started.append(f"postgres: embedded (pgserver) in {pgdata}")

    def _aws(self) -> None:
        self.env.setdefault("AWS_ACCESS_KEY_ID", os.environ.get("AWS_ACCESS_KEY_ID", "local"))
        self.env.setdefault("AWS_SECRET_ACCESS_KEY", os.environ.get("AWS_SECRET_ACCESS_KEY", "local"))
        self.env.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
        if os.environ.get("AWS_ENDPOINT_URL"):
            self.started.append(f"s3+sqs: {os.environ['AWS_ENDPOINT_URL']} (configured)")
            return
        self._moto = MotoProcess(self.moto_port)
        host, port = "127.0.0.1", self._moto.port
        self.env["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        self.started.append(f"s3+sqs: embedded (moto server) at http://{host}:{port}")

    # -- provisioning (what template.yaml creates in AWS) --------------------------------
    def provision(self, settings: Settings) -> None:
        conn = None
        try:
            db.ensure_database(settings)
            conn = db.connect(settings)
            applied = migrate(conn)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
        finally:
            if conn is not None:
                conn.close()
        provision_aws(settings)
        if self._moto is not None:
            self._restore(settings)
        for q in all_queues(settings):
            try:
                q.ping()
            finally:
                q.close()

    # -- moto snapshot -------------------------------------------------------------------
    @property
    def _snapshot_dir(self) -> Path:
        return self.data_dir / "moto"

    def _restore(self, settings: Settings) -> None:
        snap = self._snapshot_dir
        if not snap.exists():
            return
        s3, sqs = client("s3", settings), client("sqs", settings)
        objects = snap / "objects"
        manifest = (
            json.loads((snap / "manifest.json").read_text(encoding="utf-8"))
            if (snap / "manifest.json").exists()
            else {}
        )
        # Put objects back without notifications: they were notified before.
        notification = s3.get_bucket_notification_configuration(Bucket=settings.bucket)
        notification.pop("ResponseMetadata", None)
        s3.put_bucket_notification_configuration(Bucket=settings.bucket, NotificationConfiguration={})
        for name, key in manifest.items():
            with open(objects / name, "rb") as fh:
                s3.upload_fileobj(fh, settings.bucket, key)
        s3.put_bucket_notification_configuration(Bucket=settings.bucket, NotificationConfiguration=notification)
        queues = (
            json.loads((snap / "queues.json").read_text(encoding="utf-8")) if (snap / "queues.json").exists() else {}
        )
        for queue_name, messages in queues.items():
            url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            for m in messages:
                sqs.send_message(QueueUrl=url, MessageBody=m["body"], MessageAttributes=m.get("attributes") or {})
        log.info("restored %d objects and %d messages", len(manifest), sum(len(v) for v in queues.values()))

    def save(self, settings: Settings) -> None:
        """Write moto's bucket and queues to the data folder (moto itself keeps nothing)."""
        if self._moto is None:
            return
        s3, sqs = client("s3", settings), client("sqs", settings)
        tmp = self._snapshot_dir.with_suffix(".new")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "objects").mkdir(parents=True)
        manifest: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket):
            for n, obj in enumerate(page.get("Contents", []), start=len(manifest)):
                name = f"{n:08d}"
                s3.download_file(settings.bucket, obj["Key"], str(tmp / "objects" / name))
                manifest[name] = obj["Key"]
        queues: dict[str, list[dict[str, Any]]] = {}
        for queue_name in (settings.ingest_queue, settings.dead_letter_queue):
            url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            seen: dict[str, dict[str, Any]] = {}
            while True:
                got = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, MessageAttributeNames=["All"]
                ).get("Messages", [])
                fresh = [m for m in got if m["MessageId"] not in seen]
                if not fresh:
                    break
                for m in fresh:
                    attrs = {
                        k: {"DataType": v["DataType"], "StringValue": v["StringValue"]}
                        for k, v in m.get("MessageAttributes", {}).items()
                    }
                    seen[m["MessageId"]] = {"body": m["Body"], "attributes": attrs}
            queues[queue_name] = list(seen.values())
        (tmp / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        (tmp / "queues.json").write_text(json.dumps(queues), encoding="utf-8")
        shutil.rmtree(self._snapshot_dir, ignore_errors=True)
        tmp.rename(self._snapshot_dir)

    def stop(self, settings: Settings | None) -> None:
        if settings is not None:
            try:
                self.save(settings)
            except Exception:
                log.exception("could not save the bucket and queues to %s", self._snapshot_dir)
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._pg is not None:
            self._pg.cleanup()
            self._pg = None


def allow_origins(settings: Settings, origins: list[str], template_path: Path = template.TEMPLATE) -> None:
    """Let pages of ``origins`` upload to the bucket too, beside the origin the template
    allows: the runner's own address, known once its server is bound, serves the web app,
    whose uploads go straight to the bucket (another origin)."""
    bucket, _, _ = template.upload_path(template_path)
    rules = [
        {**rule, "AllowedOrigins": sorted({*rule.get("AllowedOrigins", []), *origins})} for rule in bucket.cors_rules
    ]
    client("s3", settings).put_bucket_cors(Bucket=settings.bucket, CORSConfiguration={"CORSRules": rules})


def provision_aws(settings: Settings, template_path: Path = template.TEMPLATE) -> None:
    """Create the bucket (with CORS and its notification) and the queues, where missing,
    as template.yaml declares them."""
    bucket, ingest, _ = template.upload_path(template_path)
    s3, sqs = client("s3", settings), client("sqs", settings)
    try:
        dlq_url = sqs.create_queue(QueueName=settings.dead_letter_queue)["QueueUrl"]
    except Exception as exc:
        raise ServiceUnavailableError("queue", f"SQS at {settings.aws_endpoint_url or 'AWS'}: {exc}") from exc
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(ingest.max_receive_count)}
    ingest_url = sqs.create_queue(
        QueueName=settings.ingest_queue,
        Attributes={
            "VisibilityTimeout": str(local_visibility_s(ingest.visibility_timeout_s)),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    ingest_arn = sqs.get_queue_attributes(QueueUrl=ingest_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    try:
        s3.create_bucket(Bucket=settings.bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    except Exception as exc:
        if "BucketAlreadyOwnedByYou" not in str(exc):
            raise ServiceUnavailableError("bucket", f"S3 at {settings.aws_endpoint_url or 'AWS'}: {exc}") from exc
    s3.put_bucket_cors(Bucket=settings.bucket, CORSConfiguration={"CORSRules": bucket.cors_rules})
    s3.put_bucket_notification_configuration(
        Bucket=settings.bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": ingest_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
