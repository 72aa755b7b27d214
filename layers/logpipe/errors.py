"""The package's exceptions, and the one place that decides what each failure means.

- ``RetryableError``: a dependency is unavailable (Postgres, the queue, the bucket).
  The message goes back to the queue and is tried again; it does not count toward the
  dead-letter limit when the local runner can tell.
- ``PermanentError``: the message itself is bad (malformed JSON, unknown kind, an
  object that does not exist). It goes straight to the dead-letter queue with the reason.
- ``ClientError``: the caller's fault; the HTTP layer answers with ``status`` and a JSON
  body that says what to fix.
"""

from __future__ import annotations


class LogpipeError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(LogpipeError):
    """A setting is missing or malformed; the message names the variable."""


class RetryableError(LogpipeError):
    """Transient: try the same message again later."""


class PermanentError(LogpipeError):
    """The message can never succeed as it is: dead-letter it with this reason."""


class ClientError(LogpipeError):
    status = 400


class BadRequestError(ClientError):
    status = 400


class UnauthorizedError(ClientError):
    status = 401


class NotFoundError(ClientError):
    status = 404


class ConflictError(ClientError):
    status = 409


class ServiceUnavailableError(LogpipeError):
    """A dependency does not answer; ``component`` names it (``postgres``, ``queue``, ``bucket``)."""

    def __init__(self, component: str, detail: str) -> None:
        super().__init__(f"{component} is not reachable: {detail}")
        self.component = component
        self.detail = detail
