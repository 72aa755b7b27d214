"""github-webhook: POST /webhook/github behind API Gateway. Refuses to start without
GITHUB_WEBHOOK_SECRET; the logs of finished Actions runs go to the parse-workers' queue."""

from apig_wsgi import make_lambda_handler

from logpipe import logs, metrics
from logpipe.config import Settings
from logpipe.http import create_app, deps

settings = Settings.from_env()
logs.configure("github-webhook", settings.log_level)

app = create_app(settings, "webhook")
handler = metrics.http_handler("github-webhook", make_lambda_handler(app), deps.pool_of(app).get, settings.metrics)
