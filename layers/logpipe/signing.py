"""Values the server hands out and takes back, signed so that it can tell its own from
forged or damaged ones without storing anything: ``<payload>.<signature>``, both
base64url, the payload JSON, the signature an HMAC-SHA256 of the payload under a key
derived from the API token and a label naming the kind of value (a value of one kind is
never valid as another)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any


def _key(secret: str, label: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), label.encode("utf-8"), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(secret: str, label: str, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    mac = hmac.new(_key(secret, label), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(secret: str, label: str, value: str) -> dict[str, Any] | None:
    """The payload of a value ``sign`` made with the same secret and label, else None."""
    body, dot, mac = value.partition(".")
    if not dot or not body.isascii() or not mac.isascii():
        return None
    expected = _b64(hmac.new(_key(secret, label), body.encode("ascii"), hashlib.sha256).digest())
    if not hmac.compare_digest(mac.encode("ascii"), expected.encode("ascii")):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error):
        return None
    return payload if isinstance(payload, dict) else None
