"""ApiError built from every body shape, and what str(error) tells a person."""

from __future__ import annotations

import json

import pytest

from bwmsg import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    BwmsgError,
    FieldError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from bwmsg._errors import api_error_from_response


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (599, ServerError),
        (405, ApiError),
        (415, ApiError),
    ],
)
def test_status_picks_subclass(status: int, cls: type[ApiError]) -> None:
    """Each status maps to its ApiError subclass."""
    error = api_error_from_response(status, b"")
    assert type(error) is cls
    assert isinstance(error, BwmsgError)
    assert error.status == status


def test_bad_request_with_field_errors() -> None:
    """A 400 body's type, description and each field error are kept and shown."""
    body = {
        "type": "request-validation",
        "description": "Your request could not be accepted.",
        "fieldErrors": [
            {"fieldName": "from", "description": "'+invalid' must be a valid E164 number"},
            {"fieldName": "text", "description": "too long"},
        ],
    }
    error = api_error_from_response(400, json.dumps(body).encode(), reason="Bad Request")
    assert error.type == "request-validation"
    assert error.description == "Your request could not be accepted."
    assert error.field_errors == (
        FieldError(field_name="from", description="'+invalid' must be a valid E164 number"),
        FieldError(field_name="text", description="too long"),
    )
    assert str(error) == (
        "HTTP 400 Bad Request: request-validation: Your request could not be accepted.\n"
        "  - from: '+invalid' must be a valid E164 number\n"
        "  - text: too long"
    )


def test_body_without_field_errors() -> None:
    """A {type, description} body gives no field errors."""
    error = api_error_from_response(
        401, b'{"type": "unauthorized", "description": "Authentication failed"}'
    )
    assert error.field_errors == ()
    assert str(error) == "HTTP 401: unauthorized: Authentication failed"


def test_spring_404_body() -> None:
    """The Spring-style 404 body is read into type and description."""
    body = (
        b'{"timestamp": "2024-01-01T00:00:00.000+00:00", "status": 404, "error": "Not Found",'
        b' "message": "No message available", "path": "/api/v2/users/x/messages"}'
    )
    error = api_error_from_response(404, body)
    assert isinstance(error, NotFoundError)
    assert error.type == "Not Found"
    assert error.description == "No message available (path /api/v2/users/x/messages)"


def test_empty_body() -> None:
    """An empty body still gives a readable error."""
    error = api_error_from_response(503, b"", reason="Service Unavailable")
    assert error.type is None
    assert error.description is None
    assert str(error) == "HTTP 503 Service Unavailable"


def test_html_body() -> None:
    """An HTML body is kept whole in .body and shown as an excerpt."""
    html = "<html><body><h1>502 Bad Gateway</h1>" + "x" * 500 + "</body></html>"
    error = api_error_from_response(502, html.encode())
    assert error.body == html
    text = str(error)
    assert text.startswith("HTTP 502: body: <html><body><h1>502 Bad Gateway</h1>")
    assert text.endswith("...")
    assert len(text) < 300


def test_json_of_unexpected_shape() -> None:
    """A JSON list, or wrong types in known keys, do not break the error."""
    assert api_error_from_response(500, b"[1, 2]").type is None
    error = api_error_from_response(400, b'{"type": 5, "description": null, "fieldErrors": "x"}')
    assert error.type == "5"
    assert error.field_errors == ()


def test_undecodable_bytes() -> None:
    """Bytes that are not UTF-8 are replaced, not raised."""
    error = api_error_from_response(500, b"\xff\xfe\x00garbage")
    assert "garbage" in error.body


def test_retry_after_is_kept() -> None:
    """The Retry-After seconds given to the builder are on the error."""
    error = api_error_from_response(429, b"{}", retry_after=2.5)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 2.5


def test_a_servers_text_is_printable_and_bounded_in_the_message() -> None:
    """Escapes, line breaks and bidi overrides from a body are shown, never obeyed; a long
    description and many field errors are cut; the attributes keep what came."""
    body = json.dumps(
        {
            "type": "x\x1b[31m",
            "description": "\x1b[2J" + "d" * 2000 + "\nERROR fake log line",
            "fieldErrors": [
                {"fieldName": f"f{i}\u202e", "description": "bad\r"} for i in range(30)
            ],
        }
    ).encode()
    error = api_error_from_response(400, body, reason="Bad\x00Request")
    text = str(error)
    lines = text.split("\n")
    assert all(line.isprintable() for line in lines)
    assert "\\x1b[2J" in lines[0]
    assert "ERROR fake log line" not in "\n".join(lines[1:])
    assert len(lines[0]) < 800
    assert len(lines) == 1 + 20 + 1
    assert lines[-1] == "  ... and 10 more field errors"
    assert "f0\\u202e: bad\\r" in lines[1]
    assert error.description is not None
    assert error.description.startswith("\x1b[2J")


def test_a_body_that_is_not_json_is_shown_printable() -> None:
    text = str(api_error_from_response(502, b"<html>\x1b]0;pwned\x07" + b"x" * 500))
    assert text.isprintable()
    assert "\\x1b]0;pwned\\x07" in text
    assert text.endswith("...")
