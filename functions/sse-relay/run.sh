#!/bin/sh
# Started by the Lambda Web Adapter (Handler: run.sh): serve the WSGI app on the port it
# forwards to. One thread per open stream; a stream ends by itself (LOGPIPE_STREAM_MAX_S)
# before the function's timeout, and the browser resumes from its Last-Event-ID.
export PYTHONPATH="/opt/python:${LAMBDA_TASK_ROOT:-.}${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m gunicorn --bind "127.0.0.1:${PORT:-8000}" --worker-class gthread \
  --threads "${LOGPIPE_RELAY_THREADS:-64}" --timeout 0 sse_relay:app
