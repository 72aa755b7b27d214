"""sse-relay: GET /api/stream (server-sent events) and POST /api/stream-token.

A plain WSGI app: on AWS the Lambda Web Adapter runs it (``run.sh``) behind a function URL
whose invoke mode streams the response; the local runner serves the same ``app``. It
lives on between requests, so it reports its metrics (streams open) on a timer.
"""

from logpipe import logs, metrics
from logpipe.config import Settings
from logpipe.http import create_app, deps

settings = Settings.from_env()
logs.configure("sse-relay", settings.log_level)

app = create_app(settings, "stream")
if settings.metrics:
    metrics.report_every(metrics.SERVER_REPORT_S, deps.pool_of(app).get)
