"""The HTTP API (Flask/WSGI): uploads, files, health. Each HTTP function serves a part of it."""

from .app import create_app

__all__ = ["create_app"]
