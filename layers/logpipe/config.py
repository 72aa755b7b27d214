"""Settings, read once from the environment into one frozen object.

Explicit keyword arguments win over the environment (``Settings.from_env(**overrides)``).
A malformed value fails at start with the variable's name in the message. ``env_int``,
``env_bool``, ``env_str`` and ``env_log_level`` are that rule; the local runner's own
settings read its variables with them too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, LogpipeError

if TYPE_CHECKING:
    from .storage.gunzip import Limits

MiB = 1024 * 1024


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def whole_number(
    label: str, text: str | None, default: int, minimum: int, error: type[LogpipeError], shown: int | None = None
) -> int:
    """``text`` as a whole number of at least ``minimum``, ``default`` when it is empty; else
    ``error`` says what ``label`` must be, quoting at most ``shown`` characters of ``text``.
    The rule of settings (``env_int``) and of request parameters (``search/params.py``)."""
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise error(f"{label} must be a whole number, got {text[:shown]!r}") from None
    if value < minimum:
        raise error(f"{label} must be at least {minimum}, got {value}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = env.get(name)
    value = whole_number(name, raw, default, minimum, ConfigError)
    if raw and maximum is not None and value > maximum:  # a default is taken as it is
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be on or off, got {raw!r}")


def env_str(env: Mapping[str, str], name: str, default: str = "") -> str:
    value = env.get(name)
    return default if value is None or value == "" else value


def env_log_level(env: Mapping[str, str], name: str, default: str) -> str:
    """A level name of the ``logging`` module, in capitals (``debug`` is taken as ``DEBUG``)."""
    value = env_str(env, name, default).strip().upper()
    if value not in LOG_LEVELS:
        raise ConfigError(f"{name} must be one of {', '.join(LOG_LEVELS)}, got {env.get(name)!r}")
    return value


@dataclass(frozen=True)
class Settings:
    # Postgres. PSQL_ADDR may be a host name or, as with libpq, a socket directory.
    psql_addr: str = "127.0.0.1"
    psql_port: int = 5432
    psql_user: str = "postgres"
    psql_pass: str = ""
    psql_db: str = "logpipe"

    # AWS (or moto's server): endpoint empty means the SDK's own resolution.
    aws_endpoint_url: str = ""
    aws_region: str = "us-east-1"
    bucket: str = "logpipe-uploads"
    ingest_queue: str = "logpipe-ingest"
    dead_letter_queue: str = "logpipe-ingest-dlq"

    # RabbitMQ: when set, chunk work travels through it instead of SQS.
    rabbitmq_url: str = ""
    rabbitmq_queue: str = "logpipe.work"

    api_token: str = ""

    max_attempts: int = 3
    outage_retry_s: int = 10  # how long a message waits when Postgres or RabbitMQ did not answer
    chunk_bytes: int = 16 * MiB
    batch_rows: int = 5000
    # ...or at this many bytes of rows, whichever comes first: memory follows the bytes of
    # a batch, not its rows (5,000 rows of 60 KB lines are 300 MB).
    batch_bytes: int = 8 * MiB
    max_line_bytes: int = 64 * 1024
    max_event_lines: int = 1000  # a multi-line event stops growing here...
    max_event_bytes: int = 256 * 1024  # ...or here, and the next line starts a new one
    max_upload_bytes: int = 5 * 1024**4  # S3 objects stop at 5 TiB
    # A file is not read past these (a gzip bomb: a few MB that expand to many GB); what
    # came before stays, and the file fails saying which limit it reached.
    max_decompressed_bytes: int = 16 * 1024**3
    max_gzip_ratio: int = 200  # text bytes per gzip byte, judged after the first 64 MiB of text
    max_file_lines: int = 100_000_000
    multipart_threshold: int = 64 * MiB
    multipart_part_bytes: int = 16 * MiB
    presign_expiry_s: int = 900
    # Lines of the formats the compiled lane knows go through it when it is built (the
    # same rows as the Python path, many times faster); off forces the Python path.
    compiled_lane: bool = True
    log_level: str = "INFO"  # of every process: the functions, the local runner and the command line

    # The live stream (sse-relay).
    stream_max_clients: int = 1000  # concurrent streams per process; more get 429
    stream_max_s: int = 600  # a stream ends after this; the client resumes from its last id
    stream_heartbeat_s: int = 15
    stream_token_ttl_s: int = 300
    stream_write_timeout_s: int = 30  # a client that reads nothing for this long is let go

    health_timeout_s: int = 5  # /health's check of Postgres gives up (503) after this
    max_body_bytes: int = MiB  # a request body over this is refused (413); uploads go to the bucket, not here

    # Operations: metrics, their Pushgateway, and what rollup-cron sweeps.
    metrics: bool = True  # every function adds what it counted to its rows in Postgres (logpipe/metrics)
    pushgateway_url: str = ""  # rollup-cron pushes the totals there, when set
    pushgateway_stale_s: int = 900  # groups of job "logpipe" not pushed for this long are deleted
    stack: str = "logpipe"  # names this deployment in the grouping key of what it pushes
    retention_days: int = 0  # events (and stream entries) older than this are dropped; 0 keeps all
    stuck_after_s: int = 3600  # unfinished work untouched for this long is queued again

    # GitHub: the webhook's secret (the function refuses to start without it), the REST API
    # that Actions logs and the poller read, and the token they send to it (only to it).
    github_webhook_secret: str = ""
    github_api_url: str = "https://api.github.com"
    github_token: str = ""
    github_max_body_bytes: int = 25 * MiB  # GitHub caps a delivery's payload at 25 MB
    github_poll_repos: tuple[str, ...] = ()  # OWNER/NAME of each repository github-poll lists
    # A scheduled poll walks the runs created this many hours back, seen or not: a long run
    # completes behind the newer runs that finished while it ran (``github.poll``).
    github_poll_lookback_h: int = 24

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        e = os.environ if env is None else env
        base = cls(
            psql_addr=env_str(e, "PSQL_ADDR", cls.psql_addr),
            psql_port=env_int(e, "PSQL_PORT", cls.psql_port, 1),
            psql_user=env_str(e, "PSQL_USER", cls.psql_user),
            psql_pass=env_str(e, "PSQL_PASS", cls.psql_pass),
            psql_db=env_str(e, "PSQL_DB", cls.psql_db),
            aws_endpoint_url=env_str(e, "AWS_ENDPOINT_URL"),
            aws_region=env_str(e, "AWS_REGION", env_str(e, "AWS_DEFAULT_REGION", cls.aws_region)),
            bucket=env_str(e, "LOGPIPE_BUCKET", cls.bucket),
            ingest_queue=env_str(e, "LOGPIPE_INGEST_QUEUE", cls.ingest_queue),
            dead_letter_queue=env_str(e, "LOGPIPE_DLQ", cls.dead_letter_queue),
            rabbitmq_url=env_str(e, "RABBITMQ_URL"),
            rabbitmq_queue=env_str(e, "LOGPIPE_RABBITMQ_QUEUE", cls.rabbitmq_queue),
            api_token=env_str(e, "LOGPIPE_API_TOKEN"),
            max_attempts=env_int(e, "LOGPIPE_MAX_ATTEMPTS", cls.max_attempts, 1),
            outage_retry_s=env_int(e, "LOGPIPE_OUTAGE_RETRY_S", cls.outage_retry_s, 0),
            chunk_bytes=env_int(e, "LOGPIPE_CHUNK_BYTES", cls.chunk_bytes, 1024),
            batch_rows=env_int(e, "LOGPIPE_BATCH_ROWS", cls.batch_rows, 1),
            batch_bytes=env_int(e, "LOGPIPE_BATCH_BYTES", cls.batch_bytes, 64 * 1024),
            max_line_bytes=env_int(e, "LOGPIPE_MAX_LINE_BYTES", cls.max_line_bytes, 64),
            max_event_lines=env_int(e, "LOGPIPE_MAX_EVENT_LINES", cls.max_event_lines, 1),
            max_event_bytes=env_int(e, "LOGPIPE_MAX_EVENT_BYTES", cls.max_event_bytes, 64),
            max_decompressed_bytes=env_int(e, "LOGPIPE_MAX_DECOMPRESSED_BYTES", cls.max_decompressed_bytes, 64 * 1024),
            max_gzip_ratio=env_int(e, "LOGPIPE_MAX_GZIP_RATIO", cls.max_gzip_ratio, 2),
            max_file_lines=env_int(e, "LOGPIPE_MAX_FILE_LINES", cls.max_file_lines, 1),
            multipart_threshold=env_int(e, "LOGPIPE_MULTIPART_THRESHOLD", cls.multipart_threshold, 5 * MiB),
            multipart_part_bytes=env_int(e, "LOGPIPE_MULTIPART_PART_BYTES", cls.multipart_part_bytes, 5 * MiB),
            presign_expiry_s=env_int(e, "LOGPIPE_PRESIGN_EXPIRY", cls.presign_expiry_s, 1),
            compiled_lane=env_bool(e, "LOGPIPE_COMPILED_LANE", cls.compiled_lane),
            log_level=env_log_level(e, "LOGPIPE_LOG_LEVEL", cls.log_level),
            stream_max_clients=env_int(e, "LOGPIPE_STREAM_MAX_CLIENTS", cls.stream_max_clients, 1),
            stream_max_s=env_int(e, "LOGPIPE_STREAM_MAX_S", cls.stream_max_s, 1),
            stream_heartbeat_s=env_int(e, "LOGPIPE_STREAM_HEARTBEAT_S", cls.stream_heartbeat_s, 1),
            stream_token_ttl_s=env_int(e, "LOGPIPE_STREAM_TOKEN_TTL_S", cls.stream_token_ttl_s, 1),
            stream_write_timeout_s=env_int(e, "LOGPIPE_STREAM_WRITE_TIMEOUT_S", cls.stream_write_timeout_s, 1),
            health_timeout_s=env_int(e, "LOGPIPE_HEALTH_TIMEOUT_S", cls.health_timeout_s, 1),
            max_body_bytes=env_int(e, "LOGPIPE_MAX_BODY_BYTES", cls.max_body_bytes, 1024),
            metrics=env_bool(e, "LOGPIPE_METRICS", cls.metrics),
            pushgateway_url=env_str(e, "LOGPIPE_PUSHGATEWAY_URL").rstrip("/"),
            pushgateway_stale_s=env_int(e, "LOGPIPE_PUSHGATEWAY_STALE_S", cls.pushgateway_stale_s, 60),
            stack=env_str(e, "LOGPIPE_STACK", cls.stack),
            retention_days=env_int(e, "LOGPIPE_RETENTION_DAYS", cls.retention_days, 0),
            stuck_after_s=env_int(e, "LOGPIPE_STUCK_AFTER_S", cls.stuck_after_s, 60),
            github_webhook_secret=env_str(e, "GITHUB_WEBHOOK_SECRET"),
            github_api_url=env_str(e, "GITHUB_API_URL", cls.github_api_url).rstrip("/"),
            github_token=env_str(e, "GITHUB_TOKEN"),
            github_max_body_bytes=env_int(e, "LOGPIPE_GITHUB_MAX_BODY_BYTES", cls.github_max_body_bytes, 1024),
            github_poll_repos=tuple(r.strip() for r in env_str(e, "LOGPIPE_GITHUB_POLL_REPOS").split(",") if r.strip()),
            github_poll_lookback_h=env_int(e, "LOGPIPE_GITHUB_POLL_LOOKBACK_H", cls.github_poll_lookback_h, 0),
        )
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def gzip_limits(self) -> Limits:
        """How far a gzip object may expand (``storage.gunzip.Limits``)."""
        from .storage.gunzip import Limits

        return Limits(self.max_decompressed_bytes, self.max_gzip_ratio)

    @property
    def queue_backend(self) -> str:
        return "rabbitmq" if self.rabbitmq_url else "sqs"
