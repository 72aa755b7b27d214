"""The local runner's own settings: what only ``logpipe`` on a laptop needs.

Read once from the environment by the same rules as ``logpipe.config.Settings`` (a
malformed value fails at start, naming the variable); command-line options win.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from logpipe.config import env_int, env_str


@dataclass(frozen=True)
class RunnerSettings:
    data_dir: Path = Path("data")  # the embedded database, the bucket snapshot, the API token
    port: int = 8080  # of the local HTTP server (``run --port``)
    moto_port: int = 0  # of the embedded moto server; 0 takes any free port
    # Scheduled functions run at least this often locally (0: at the template's rate only):
    # on a laptop the index and rollups should not wait a minute behind an upload.
    schedule_s: int = 10
    # A worker process that died is started again after this many seconds, doubling for
    # one that dies again soon after (up to a minute).
    worker_restart_s: int = 1
    # A connection to the local server that sends nothing for this long is closed, and so is
    # one that has not sent a request's headers this long after it began waiting for them.
    http_idle_timeout_s: int = 30
    # Processes serving the HTTP port (0: one per core, at least two), and the connections
    # each holds at most (a thread each; streams count).
    http_processes: int = 0
    http_max_connections: int = 256
    # The origin whose pages may call the local API (CORS); empty: the template's AllowedOrigin default.
    allowed_origin: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunnerSettings:
        e = os.environ if env is None else env
        return cls(
            data_dir=Path(env_str(e, "LOGPIPE_DATA_DIR", str(cls.data_dir))),
            port=env_int(e, "LOGPIPE_PORT", cls.port, 0, 65535),
            moto_port=env_int(e, "LOGPIPE_MOTO_PORT", cls.moto_port, 0, 65535),
            schedule_s=env_int(e, "LOGPIPE_SCHEDULE_S", cls.schedule_s, 0),
            worker_restart_s=env_int(e, "LOGPIPE_WORKER_RESTART_S", cls.worker_restart_s, 0),
            http_idle_timeout_s=env_int(e, "LOGPIPE_HTTP_IDLE_TIMEOUT_S", cls.http_idle_timeout_s, 1),
            allowed_origin=env_str(e, "LOGPIPE_ALLOWED_ORIGIN", cls.allowed_origin),
            http_processes=env_int(e, "LOGPIPE_HTTP_PROCESSES", cls.http_processes, 0, 64),
            http_max_connections=env_int(e, "LOGPIPE_HTTP_MAX_CONNECTIONS", cls.http_max_connections, 1),
        )
