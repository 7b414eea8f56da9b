"""Delivery receipts and inbound messages: Bandwidth's callbacks, typed, and a receiver for them.

A 202 only means Bandwidth queued a message. What happened next arrives later as callbacks to
the application's URL: ``message-sending``, ``message-sent``, ``message-delivered``,
``message-failed`` (with an ``errorCode``) and, for messages sent to your numbers,
``message-received``. They come as a JSON array of events, at least once (so duplicates
happen) and not always in order.

::

    from aiohttp import web
    from bwmsg.callbacks import CallbackReceiver, StatusCallback

    async def on_event(event):
        if isinstance(event, StatusCallback) and event.type == "message-failed":
            print(event.message.id, event.error_code, event.error)

    app = web.Application()
    CallbackReceiver(on_event, username="cb-user", password="cb-pass").setup(app, "/callbacks")
    web.run_app(app)

:func:`parse_events` reads a body on its own; :func:`describe_error` turns an error code into
words; :class:`CallbackServer` runs a receiver standalone.
"""

from ._codes import ErrorCode, describe_error, error_code
from ._events import (
    CallbackEvent,
    CallbackMessage,
    CallbackParseError,
    InboundCallback,
    InboundCallbackMessage,
    InboundType,
    StatusCallback,
    StatusType,
    UnknownCallback,
    parse_events,
)
from ._receiver import CallbackReceiver, CallbackServer

__all__ = [
    "CallbackEvent",
    "CallbackMessage",
    "CallbackParseError",
    "CallbackReceiver",
    "CallbackServer",
    "ErrorCode",
    "InboundCallback",
    "InboundCallbackMessage",
    "InboundType",
    "StatusCallback",
    "StatusType",
    "UnknownCallback",
    "describe_error",
    "error_code",
    "parse_events",
]
