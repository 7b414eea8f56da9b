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
