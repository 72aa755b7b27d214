"""logpipe: the shared package behind every function of the log pipeline.

Organised by concern: ``config`` (settings read once), ``db`` (Postgres, migrations,
repositories), ``queue`` (SQS and RabbitMQ), ``storage`` (the bucket), ``parsing``
(bytes to events), ``ingest`` (the parse-worker's logic), ``http`` (the query and
upload API).
"""

__version__ = "0.1.0"
