"""upload-presign: POST /api/uploads (and /complete for multipart) behind API Gateway."""

from apig_wsgi import make_lambda_handler

from logpipe import logs
from logpipe.config import Settings
from logpipe.http import create_app

settings = Settings.from_env()
logs.configure("upload-presign", settings.log_level)

app = create_app(settings, "uploads")
handler = make_lambda_handler(app)
