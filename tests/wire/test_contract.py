"""Contract tests against Bandwidth's own OpenAPI description (bandwidth.yml)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest

from bwmsg import Direction, MessageRequest, Priority
from bwmsg._convert import message_from_json, request_to_dict
from tests.senders import sender_for
from tests.servers import Scripted
from tests.spec import schema, validate

LATER = datetime.now(timezone.utc) + timedelta(days=1)

# The five kinds of message in Bandwidth's own examples.
EXAMPLES = {
    "single": MessageRequest(to="+15554443333", from_="+15551113333", text="Hello world"),
    "picture": MessageRequest(
        to="+15554443333",
        from_="+15551113333",
        text="Look!",
        media=["https://dev.bandwidth.com/images/bandwidth-logo.png"],
    ),
    "multiple pictures": MessageRequest(
        to="+15554443333",
        from_="+15551113333",
        media=[
            "https://dev.bandwidth.com/images/bandwidth-logo.png",
            "https://dev.bandwidth.com/images/github_logo.png",
        ],
        tag="custom string",
        priority="high",
        expiration=LATER,
    ),
    "group": MessageRequest(
        to=["+15554443333", "+15552223333"], from_="+15551113333", text="Hello group"
    ),
    "group picture": MessageRequest(
        to=["+15554443333", "+15552223333"],
        from_="+15551113333",
        text="Group picture",
        media=["https://dev.bandwidth.com/images/bandwidth-logo.png"],
    ),
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_request_bodies_validate(name: str) -> None:
    """Each kind of request body validates against messageRequest."""
    body = json.loads(json.dumps(request_to_dict(EXAMPLES[name], "93de2206-9669")))
    validate(body, "messageRequest")


def test_schema_catches_a_bad_body() -> None:
    """The schema check can fail: a body without applicationId is refused."""
    with pytest.raises(jsonschema.ValidationError, match="applicationId"):
        validate({"to": ["+1"], "from": "+2"}, "messageRequest")


def _schema_example(name: str) -> dict[str, Any]:
    components = schema(name)["components"]["schemas"]
    out: dict[str, Any] = {}
    for key, prop in components[name]["properties"].items():
        if "$ref" in prop:
            prop = components[prop["$ref"].rsplit("/", 1)[1]]
        if "example" in prop:
            out[key] = prop["example"]
    return out


def test_spec_message_example_parses() -> None:
    """The spec's own `message` example reads into Message with every field."""
    data = _schema_example("message")
    message = message_from_json(json.loads(json.dumps(data, default=str)))
    assert message.id == data["id"]
    assert message.owner == data["owner"]
    assert message.application_id == data["applicationId"]
    assert message.segment_count == data["segmentCount"]
    assert message.direction is Direction(data["direction"])
    assert message.priority is Priority(data["priority"])
    assert message.to == tuple(data["to"])
    assert message.from_ == data["from"]
    assert message.media == tuple(data["media"])
    assert message.text == data["text"]
    assert message.tag == data["tag"]
    assert message.time is not None
    assert message.time.tzinfo is not None
    assert message.expiration is not None
    assert message.expiration.tzinfo is not None


async def test_sent_bodies_validate_on_the_wire(server: Scripted) -> None:
    """What Sender actually puts on the wire validates against messageRequest."""
    async with sender_for(server.base_url) as sender:
        results = [r async for r in sender.send_many(EXAMPLES.values())]
    assert all(r.ok for r in results)
    for recorded in server.requests:
        validate(recorded.json(), "messageRequest")
