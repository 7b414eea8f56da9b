"""The pytest plugin bwmsg.testing: its fixtures, here and in a user's project."""

from __future__ import annotations

import pytest

from bwmsg import MessageRequest, Sender
from bwmsg.simulator import Faults, Simulator

pytest_plugins = ["pytester"]


async def test_fixtures_give_a_running_simulator_and_a_sender(
    bwmsg_simulator: Simulator, bwmsg_sender: Sender
) -> None:
    """bwmsg_sender sends to bwmsg_simulator, which records the message."""
    assert bwmsg_sender.base_url == bwmsg_simulator.base_url
    await bwmsg_sender.send(MessageRequest(to="+19195551212", from_="+19195550000", text="hi"))
    assert [m.to for m in bwmsg_simulator.accepted] == [("+19195551212",)]


@pytest.mark.bwmsg_simulator(faults=Faults(server_error=0.2), seed=5)
async def test_marker_configures_the_simulator(
    bwmsg_simulator: Simulator, bwmsg_sender: Sender
) -> None:
    """@pytest.mark.bwmsg_simulator passes arguments; the sender's retries do not wait."""
    assert bwmsg_simulator.faults.server_error == 0.2
    for i in range(20):
        await bwmsg_sender.send(
            MessageRequest(to="+19195551212", from_="+19195550000", text=str(i))
        )
    assert len(bwmsg_simulator.accepted) == 20
    assert bwmsg_simulator.counts["202"] == 20


def test_plugin_works_in_a_users_project(pytester: pytest.Pytester) -> None:
    """In a fresh project (strict asyncio mode), the fixtures work through the entry point."""
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    pytester.makepyfile(
        """
        import pytest
        from bwmsg import MessageRequest

        @pytest.mark.asyncio
        async def test_send(bwmsg_sender, bwmsg_simulator):
            await bwmsg_sender.send(
                MessageRequest(to="+19195551212", from_="+19195550000", text="hello")
            )
            assert bwmsg_simulator.accepted[0].text == "hello"
        """
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1)


@pytest.mark.bwmsg_simulator(oauth=True, token_lifetime=60)
async def test_marker_oauth_makes_an_oauth_sender(
    bwmsg_simulator: Simulator, bwmsg_sender: Sender
) -> None:
    """With oauth=True, bwmsg_sender gets a bearer token from the simulator's token endpoint."""
    assert "auth=oauth2" in repr(bwmsg_sender)
    await bwmsg_sender.send(MessageRequest(to="+19195551212", from_="+19195550000", text="hi"))
    assert len(bwmsg_simulator.accepted) == 1
    [token] = bwmsg_simulator.token_requests
    assert token.status == 200
