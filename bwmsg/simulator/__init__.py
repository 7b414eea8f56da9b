"""A local Bandwidth look-alike for tests, benchmarks and demos.

:class:`Simulator` serves the Messaging V2 send endpoint on a real socket, validates and answers
like the service, throttles by segments, injects :class:`Faults`, records every accepted
message (:class:`AcceptedMessage`) and posts delivery :class:`Callbacks`. It also serves an
OAuth2 token endpoint (client credentials; every request logged as a :class:`TokenRequest`)
whose bearer tokens the messages endpoints accept, the media endpoints (every upload
recorded in :attr:`Simulator.uploads`), and :meth:`Simulator.inbound` to play a message sent
to one of the account's numbers (a ``message-received`` callback)::

    from bwmsg import MessageRequest, Sender
    from bwmsg.simulator import Faults, Simulator

    async with Simulator(faults=Faults(rate_limited=0.1), seed=1) as sim:
        async with Sender("9900000", sim.username, sim.password,
                          application_id="app", base_url=sim.base_url) as sender:
            await sender.send(MessageRequest(to="+19195551212", from_="+19195550000", text="hi"))
        assert len(sim.accepted) == 1

With OAuth2: ``Sender("9900000", client_id=sim.client_id, client_secret=sim.client_secret,
token_url=sim.token_url, ...)``; ``Simulator(token_lifetime=...)`` sets how long tokens live
and ``sim.revoke_tokens()`` invalidates them.

From a shell: ``bwmsg simulator --port 8080 --faults rate_limited=0.1``.
"""

from ._callbacks import Callbacks
from ._faults import Faults
from ._media import MediaUpload
from ._server import AcceptedMessage, Simulator, TokenRequest

__all__ = ["AcceptedMessage", "Callbacks", "Faults", "MediaUpload", "Simulator", "TokenRequest"]
