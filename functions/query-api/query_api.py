"""query-api: GET /api/files, /api/files/{id}, /api/patterns, /api/events, /api/events/{id},
/api/histogram, /api/rollups, /api/github/deliveries[/{id}], /api/openapi.json and /health behind API Gateway."""

from apig_wsgi import make_lambda_handler

from logpipe import logs, metrics
from logpipe.config import Settings
from logpipe.http import create_app, deps

settings = Settings.from_env()
logs.configure("query-api", settings.log_level)

app = create_app(settings, "files", "patterns", "events", "rollups", "github", "health", "openapi")
handler = metrics.http_handler("query-api", make_lambda_handler(app), deps.pool_of(app).get, settings.metrics)
