"""Validation of a raw request body the way the service does it, by JSON type and field name.

The rules and limits are the library's own (:mod:`bwmsg._models`), so the simulator and the
client agree; the difference is that here the input is whatever JSON arrived, not a typed
:class:`~bwmsg.MessageRequest`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .._errors import FieldError
from .._models import (
    MAX_TAG_LENGTH,
    MAX_TEXT_LENGTH,
    _check_from,
    _check_media,
    _check_number_list,
    parse_datetime,
)

__all__ = ["KNOWN_FIELDS", "validate"]

KNOWN_FIELDS = frozenset(
    ("to", "from", "text", "media", "tag", "priority", "expiration", "applicationId")
)
_PRIORITIES = ("default", "high")


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate(body: Any) -> list[FieldError]:
    """Every problem with a decoded request body; empty when it would be accepted.

    ``to`` may be a string or an array of strings (the service takes both); every other field
    must have its JSON type. Unknown keys are errors named by the key.
    """
    if not isinstance(body, dict):
        return [
            FieldError(
                field_name="body",
                description=f"must be a JSON object, got {_type_name(body)}",
            )
        ]
    errors: list[FieldError] = []
    for key in body:
        if key not in KNOWN_FIELDS:
            errors.append(FieldError(field_name=str(key), description="is not a known field"))

    to = body.get("to")
    if isinstance(to, str):
        _check_number_list((to,), errors)
    elif isinstance(to, list):
        _check_number_list(tuple(to), errors)
    elif to is None:
        errors.append(
            FieldError(field_name="to", description="required: an array of E.164 numbers")
        )
    else:
        errors.append(
            FieldError(
                field_name="to",
                description=f"must be an array of E.164 numbers, got {_type_name(to)}",
            )
        )

    _check_from(body.get("from"), errors)

    text = body.get("text")
    text_type_error = text is not None and not isinstance(text, str)
    if text_type_error:
        errors.append(
            FieldError(field_name="text", description=f"must be a string, got {_type_name(text)}")
        )
    elif isinstance(text, str) and len(text) > MAX_TEXT_LENGTH:
        errors.append(
            FieldError(
                field_name="text",
                description=f"is {len(text)} characters long; at most {MAX_TEXT_LENGTH} "
                "are allowed",
            )
        )

    media = body.get("media")
    has_media = False
    if isinstance(media, list):
        has_media = bool(media)
        _check_media(tuple(media), errors)
    elif media is not None:
        errors.append(
            FieldError(
                field_name="media",
                description=f"must be an array of URLs, got {_type_name(media)}",
            )
        )
    if not text and not has_media and not text_type_error:
        errors.append(
            FieldError(
                field_name="text",
                description="a message needs text, media, or both (empty text counts as none)",
            )
        )

    tag = body.get("tag")
    if tag is not None:
        if not isinstance(tag, str):
            errors.append(
                FieldError(field_name="tag", description=f"must be a string, got {_type_name(tag)}")
            )
        elif len(tag) > MAX_TAG_LENGTH:
            errors.append(
                FieldError(
                    field_name="tag",
                    description=f"is {len(tag)} characters long; at most {MAX_TAG_LENGTH} "
                    "are allowed",
                )
            )

    priority = body.get("priority")
    if priority is not None and priority not in _PRIORITIES:
        errors.append(
            FieldError(
                field_name="priority", description=f"{priority!r} is not one of 'default', 'high'"
            )
        )

    expiration = body.get("expiration")
    if expiration is not None:
        _check_expiration(expiration, errors)

    app = body.get("applicationId")
    if not isinstance(app, str) or not app.strip():
        errors.append(
            FieldError(
                field_name="applicationId",
                description="required: the id of a messaging application (a non-empty string)",
            )
        )
    return errors


def _check_expiration(value: object, errors: list[FieldError]) -> None:
    if not isinstance(value, str):
        errors.append(
            FieldError(
                field_name="expiration",
                description=f"must be an RFC-3339 date-time string, got {_type_name(value)}",
            )
        )
        return
    try:
        when = parse_datetime(value)
    except ValueError:
        errors.append(
            FieldError(
                field_name="expiration",
                description=f"{value!r} is not an RFC-3339 date-time (e.g. 2021-03-14T01:59:26Z)",
            )
        )
        return
    if when <= datetime.now(timezone.utc):
        errors.append(
            FieldError(field_name="expiration", description=f"{value} is not in the future")
        )
