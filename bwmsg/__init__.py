"""bwmsg: send SMS and MMS through Bandwidth's Messaging V2 API from asyncio, at volume.

The public API lives here; every other module is internal (``bwmsg.simulator``,
``bwmsg.campaign``, ``bwmsg.callbacks`` and ``bwmsg.testing`` are public tools of their own).
"""

from ._errors import (
    AmbiguousSendError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    BwmsgError,
    FieldError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    RequestValidationError,
    ServerError,
    StoppedError,
    TransportError,
)
from ._listing import MessageSummary
from ._models import Direction, Message, MessageRequest, Outcome, Priority, SendResult
from ._retry import RetryPolicy
from ._segments import SegmentInfo, segments
from ._sender import Sender
from ._stats import SenderStats
from ._throttle import RateLimit

__all__ = [
    "AmbiguousSendError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "BwmsgError",
    "Direction",
    "FieldError",
    "ForbiddenError",
    "Message",
    "MessageRequest",
    "MessageSummary",
    "NotFoundError",
    "Outcome",
    "Priority",
    "RateLimit",
    "RateLimitedError",
    "RequestValidationError",
    "RetryPolicy",
    "SegmentInfo",
    "SendResult",
    "Sender",
    "SenderStats",
    "ServerError",
    "StoppedError",
    "TransportError",
    "segments",
]
