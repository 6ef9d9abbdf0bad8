"""Message dispatch without Channels' per-message thread hop.

Since Channels 4.2, ``AsyncConsumer.dispatch`` awaits ``aclose_old_connections()``
before every handler: a ``sync_to_async`` hop to the database thread for each
websocket frame and each layer message, whether the handler touches the database
or not. Measured with py-spy on the no-op round trip (``python -m bench``), that
hop was the largest single cost of the page consumer and the worker.

The consumers that use this mixin reach the database only through
``database_sync_to_async`` or ``bcpages.page_thread.arun_page_code``, which close
stale connections themselves before and after each call (Channels issue 871 is
handled there), so the hop adds nothing for them. Runs in: the consumer's event loop.
"""

from channels.consumer import get_handler_name


class DirectDispatch:
    """Mixin for an ``AsyncConsumer`` whose database work all goes through
    ``database_sync_to_async`` or ``arun_page_code``: dispatches straight to the
    handler."""

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
