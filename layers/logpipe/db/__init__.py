"""Postgres: connections, versioned migrations, and the repositories the functions use."""

from .connection import TIMEOUT_S, connect, ensure_database

__all__ = ["TIMEOUT_S", "connect", "ensure_database"]
