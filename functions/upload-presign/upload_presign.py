"""upload-presign: POST /api/uploads (and /complete for multipart) behind API Gateway."""

from apig_wsgi import make_lambda_handler

from logpipe import logs
from logpipe.config import Settings
from logpipe.http import create_app

logs.configure("upload-presign")

app = create_app(Settings.from_env(), "uploads")
handler = make_lambda_handler(app)
