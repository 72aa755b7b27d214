"""The parse-worker's logic: plan an object into chunks, parse a chunk, commit it exactly once."""

from .worker import Context, handle_deliveries

__all__ = ["Context", "handle_deliveries"]
