"""A pytest plugin for your own tests: a running simulator and a Sender pointed at it.

Installed with bwmsg (entry point ``pytest11``), it provides two async fixtures (they need
pytest-asyncio):

- ``bwmsg_simulator``: a running :class:`~bwmsg.simulator.Simulator` on 127.0.0.1;
- ``bwmsg_sender``: a :class:`~bwmsg.Sender` pointed at it, with application id ``"app"`` and
  retries that do not wait; it uses HTTP Basic auth, or OAuth2 client credentials (the
  simulator's token endpoint) when the marker says ``oauth=True``.

::

    async def test_welcome(bwmsg_sender, bwmsg_simulator):
        await send_welcome(bwmsg_sender, "+19195551212")     # your code
        assert [m.to for m in bwmsg_simulator.accepted] == [("+19195551212",)]

Tune the simulator of one test with a marker (any :class:`~bwmsg.simulator.Simulator`
argument)::

    @pytest.mark.bwmsg_simulator(faults=Faults(server_error=0.2), seed=1)
    async def test_survives_errors(bwmsg_sender, bwmsg_simulator): ...

The marker also takes ``oauth=True``, which makes ``bwmsg_sender`` authenticate with OAuth2
client credentials against the simulator's token endpoint, e.g. with tokens that expire
during the test::

    @pytest.mark.bwmsg_simulator(oauth=True, token_lifetime=0.5)
    async def test_long_run(bwmsg_sender, bwmsg_simulator): ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from . import RetryPolicy, Sender
from .simulator import Simulator

__all__ = ["ACCOUNT_ID", "APPLICATION_ID", "bwmsg_sender", "bwmsg_simulator"]

ACCOUNT_ID = "9900000"
"""The account id the ``bwmsg_sender`` fixture uses."""
APPLICATION_ID = "app"
"""The application id the ``bwmsg_sender`` fixture uses."""


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``bwmsg_simulator`` marker."""
    config.addinivalue_line(
        "markers",
        "bwmsg_simulator(oauth=False, **kwargs): arguments for the Simulator of the "
        "bwmsg_simulator fixture; oauth=True makes bwmsg_sender use OAuth2 client credentials",
    )


def _marker_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    # The closest marker wins, key by key.
    kwargs: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("bwmsg_simulator"))):
        kwargs.update(marker.kwargs)
    return kwargs


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - without pytest-asyncio there are no async fixtures
    _HAVE_PYTEST_ASYNCIO = False
else:
    _HAVE_PYTEST_ASYNCIO = True

if _HAVE_PYTEST_ASYNCIO:

    @pytest_asyncio.fixture
    async def bwmsg_simulator(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
        """A running Simulator; ``@pytest.mark.bwmsg_simulator(...)`` passes it arguments."""
        kwargs = _marker_kwargs(request)
        kwargs.pop("oauth", None)  # for bwmsg_sender
        async with Simulator(**kwargs) as simulator:
            yield simulator

    @pytest_asyncio.fixture
    async def bwmsg_sender(
        bwmsg_simulator: Simulator, request: pytest.FixtureRequest
    ) -> AsyncIterator[Sender]:
        """A Sender pointed at ``bwmsg_simulator``, whose retries do not wait.

        Basic auth, or OAuth2 client credentials with ``@pytest.mark.bwmsg_simulator(oauth=True)``.
        """
        credentials: dict[str, Any]
        if _marker_kwargs(request).get("oauth", False):
            credentials = {
                "client_id": bwmsg_simulator.client_id,
                "client_secret": bwmsg_simulator.client_secret,
                "token_url": bwmsg_simulator.token_url,
            }
        else:
            credentials = {
                "username": bwmsg_simulator.username,
                "password": bwmsg_simulator.password,
            }
        async with Sender(
            ACCOUNT_ID,
            application_id=APPLICATION_ID,
            base_url=bwmsg_simulator.base_url,
            retry=RetryPolicy(base_delay=0),
            **credentials,
        ) as sender:
            yield sender

else:  # pragma: no cover
    # Same names, so that a test asking for them is skipped with the reason rather than erroring.

    @pytest.fixture
    def bwmsg_simulator() -> Any:
        """Unavailable: needs pytest-asyncio."""
        pytest.skip("the bwmsg_simulator fixture needs pytest-asyncio")

    @pytest.fixture
    def bwmsg_sender() -> Any:
        """Unavailable: needs pytest-asyncio."""
        pytest.skip("the bwmsg_sender fixture needs pytest-asyncio")
