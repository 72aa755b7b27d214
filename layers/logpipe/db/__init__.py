"""Postgres: connections, versioned migrations, and the repositories the functions use."""

from .connection import connect, ensure_database

__all__ = ["connect", "ensure_database"]
