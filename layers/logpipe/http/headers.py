"""The security headers of every HTTP answer, whoever serves it (the app, or the local
runner's own 404s and metrics page)."""

from __future__ import annotations

# The API answers JSON (and the stream, text): nothing in it is to be run, framed or
# sniffed as another type, and no page's address goes with a link out of it.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Referrer-Policy", "no-referrer"),
)


def missing(present: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The security headers that ``present`` (a WSGI header list) lacks."""
    have = {k.lower() for k, _ in present}
    return [(k, v) for k, v in SECURITY_HEADERS if k.lower() not in have]
