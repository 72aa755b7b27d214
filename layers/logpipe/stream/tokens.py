"""Short-lived signed tokens for the stream, which a browser's ``EventSource`` passes as
``?token=`` because it cannot send an Authorization header.

A token is ``<payload>.<signature>``, both base64url: the payload says when it expires
and what it is for; the signature is an HMAC-SHA256 of the payload under a key derived
from the API token, so any process that knows the API token can check a token without
asking anyone (nothing is stored), and a stream token is never an API token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from ..errors import UnauthorizedError

SCOPE = "stream"
_KEY_LABEL = b"logpipe stream token v1"


def _key(api_token: str) -> bytes:
    return hmac.new(api_token.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(api_token: str, ttl_s: int, now: float | None = None) -> tuple[str, int]:
    """A token valid for ``ttl_s`` seconds, and when it expires (Unix seconds)."""
    expires = int((time.time() if now is None else now) + ttl_s)
    payload = _b64(json.dumps({"scope": SCOPE, "exp": expires}, separators=(",", ":")).encode())
    signature = _b64(hmac.new(_key(api_token), payload.encode("ascii"), hashlib.sha256).digest())
    return f"{payload}.{signature}", expires


def verify(api_token: str, token: str, now: float | None = None) -> None:
    """Raise UnauthorizedError unless ``token`` is a stream token of ours that has not expired."""
    payload, dot, signature = token.partition(".")
    if not dot or len(token) > 512:
        raise UnauthorizedError("the stream token is malformed: get one from POST /api/stream-token")
    expected = _b64(hmac.new(_key(api_token), payload.encode("ascii", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii")):
        raise UnauthorizedError("the stream token is not valid: get one from POST /api/stream-token")
    try:
        claims = json.loads(_unb64(payload))
        expires, scope = int(claims["exp"]), claims["scope"]
    except (ValueError, KeyError, TypeError):
        raise UnauthorizedError("the stream token is malformed: get one from POST /api/stream-token") from None
    if scope != SCOPE:
        raise UnauthorizedError("this token is not for the stream")
    if expires < (time.time() if now is None else now):
        raise UnauthorizedError("the stream token has expired: get a new one from POST /api/stream-token")
