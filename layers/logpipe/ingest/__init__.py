"""The parse-worker's logic, one module a stage.

- ``messages``: what a worker receives and sends;
- ``plan``: an object becomes chunk rows and chunk messages;
- ``chunk``: a chunk is read, parsed and joined into events, from its resume point;
- ``batches``: events become batches, each what one commit writes;
- ``commit``: a batch, its resume point and its counts commit in one transaction;
- ``outcome``: errors are classified and the retry policy decides what becomes of a message;
- ``context``: the connections a worker reuses; ``lambda_events``: Lambda's event shapes;
  ``sweep``: re-queueing what lost its message.
"""

from .batches import Batch, event_batches
from .context import Context
from .messages import chunk_message, s3_event
from .outcome import handle_deliveries, handle_message

__all__ = ["Batch", "Context", "chunk_message", "event_batches", "handle_deliveries", "handle_message", "s3_event"]
