"""upload-presign: POST /api/uploads (and /complete for multipart) behind API Gateway."""

from apig_wsgi import make_lambda_handler

from logpipe import logs, metrics
from logpipe.config import Settings
from logpipe.http import create_app, deps

settings = Settings.from_env()
logs.configure("upload-presign", settings.log_level)

app = create_app(settings, "uploads")
handler = metrics.http_handler("upload-presign", make_lambda_handler(app), deps.pool_of(app).get, settings.metrics)
