"""The one place that knows bwmsg's models as JSON.

One cattrs converter, made here (never cattrs' global one): attrs fields in snake_case become
camelCase keys (``from_`` becomes ``from``), unset fields are left out of requests, date-times
are written as RFC-3339 with an offset, and answers are read leniently: unknown keys are
ignored, missing keys take their defaults, ``to`` may be a string or a list, and a field of the
wrong type becomes None rather than failing the whole message.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._models import Direction, Message, MessageRequest, Priority, parse_datetime

__all__ = [
    "camel",
    "converter",
    "dumps",
    "loads",
    "message_from_json",
    "request_to_dict",
    "rfc3339",
    "structure_datetime",
    "structure_int",
    "structure_str",
    "structure_str_tuple",
]

T = TypeVar("T")


def camel(name: str) -> str:
    """``application_id`` -> ``applicationId``; a trailing ``_`` (``from_``) is dropped."""
    name = name.rstrip("_")
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def rfc3339(moment: datetime) -> str:
    """``moment`` as RFC 3339 text. An offset with seconds (which RFC 3339 cannot write, and
    :meth:`datetime.isoformat` writes as ``+00:00:30``) is written in UTC instead."""
    offset = moment.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat()


def structure_datetime(value: Any, _: type) -> datetime:
    """An RFC 3339 string (or a datetime) as an aware datetime; ValueError otherwise."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return parse_datetime(value)
    raise ValueError(f"not a date-time: {value!r}")


def structure_str_tuple(value: Any, _: type) -> tuple[str, ...]:
    """A string or a list of strings (None: none) as a tuple of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(item for item in value if isinstance(item, str))
    raise ValueError(f"not a string or a list of strings: {value!r}")


def structure_str(value: Any, _: type) -> str:
    """A string (a number is written as one); ValueError otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"not a string: {value!r}")


def structure_int(value: Any, _: type) -> int:
    """An integer (a bool is refused); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a count")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValueError(f"not an integer: {value!r}")


def _enum_value(value: enum.Enum) -> Any:
    return value.value


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    return cls(value)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(prefer_attrib_converters=True)

    conv.register_unstructure_hook(datetime, rfc3339)
    for enum_cls in (Priority, Direction):
        # Registered by class: these enums are also str, and the str hook must not catch them.
        conv.register_unstructure_hook(enum_cls, _enum_value)
        conv.register_structure_hook(enum_cls, _structure_enum)
    conv.register_structure_hook(datetime, structure_datetime)
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], structure_str_tuple)
    conv.register_structure_hook(str, structure_str)
    conv.register_structure_hook(int, structure_int)

    def unstructure_factory(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
        overrides: dict[str, Any] = {
            a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **overrides)

    def structure_factory(cls: type[Any]) -> Callable[[Mapping[str, Any], Any], Any]:
        overrides: dict[str, Any] = {
            a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)
        }
        return make_dict_structure_fn(cls, conv, **overrides)

    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    conv.register_structure_hook_factory(attrs.has, structure_factory)
    return conv


converter = _make_converter()
"""bwmsg's cattrs converter. Internal: its behaviour may change without notice."""

_unstructure_request = converter.get_unstructure_hook(MessageRequest)
_structure_message = converter.get_structure_hook(Message)


def _json_dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


dumps: Callable[[Any], bytes]
"""Serialise to compact UTF-8 JSON (orjson when installed, else the standard library)."""
loads: Callable[[bytes | str], Any]
"""Parse JSON (orjson when installed); raises a ValueError subclass on bad input."""

try:  # orjson (the optional `fast` extra) serialises and parses several times faster.
    import orjson

    dumps, loads = orjson.dumps, orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    dumps, loads = _json_dumps, json.loads


def request_to_dict(request: MessageRequest, application_id: str | None = None) -> dict[str, Any]:
    """The JSON object Bandwidth expects for ``request``.

    ``application_id`` is used when the request carries none. ``to`` is always a list, unset
    fields are left out.
    """
    body: dict[str, Any] = _unstructure_request(request)
    body["to"] = list(request.to)
    if "media" in body:
        body["media"] = list(request.media)
    if "applicationId" not in body and application_id is not None:
        body["applicationId"] = application_id
    return body


_MESSAGE_FIELDS = {camel(a.name): a for a in attrs.fields(Message)}


def _message_field_by_field(data: Mapping[str, Any]) -> Message:
    # Slow path for an answer with a malformed field: keep every field that reads, drop the rest.
    values: dict[str, Any] = {}
    for key, attribute in _MESSAGE_FIELDS.items():
        if key not in data:
            continue
        try:
            values[attribute.name] = converter.structure(data[key], attribute.type)  # type: ignore[arg-type]
        except Exception:  # a malformed field reads as absent
            continue
    return Message(**values)


_DIRECTIONS = {d.value: d for d in Direction}
_PRIORITIES = {p.value: p for p in Priority}
_STRING_FIELDS = (
    ("id", "id"),
    ("owner", "owner"),
    ("applicationId", "application_id"),
    ("from", "from_"),
    ("text", "text"),
    ("tag", "tag"),
)


def _read_time(value: str) -> datetime:
    if _FROMISOFORMAT_READS_Z:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    return parse_datetime(value)


_FROMISOFORMAT_READS_Z = sys.version_info >= (3, 11)


def _fast_message(data: Mapping[str, Any]) -> Message | None:
    # The hot path of send_many: a well-formed answer read without the generic machinery.
    # Anything unusual returns None and the converter reads it leniently instead.
    values: dict[str, Any] = {}
    for key, name in _STRING_FIELDS:
        value = data.get(key)
        if value is not None:
            if type(value) is not str:
                return None
            values[name] = value
    for key in ("to", "media"):
        value = data.get(key)
        if value is not None:
            if type(value) is str:
                values[key] = (value,)
            elif type(value) is list and all(type(item) is str for item in value):
                values[key] = tuple(value)
            else:
                return None
    count = data.get("segmentCount")
    if count is not None:
        if type(count) is not int:
            return None
        values["segment_count"] = count
    for key, name, table in (
        ("direction", "direction", _DIRECTIONS),
        ("priority", "priority", _PRIORITIES),
    ):
        value = data.get(key)
        if value is not None:
            found = table.get(value) if type(value) is str else None
            if found is None:
                return None
            values[name] = found
    for key in ("time", "expiration"):
        value = data.get(key)
        if value is not None:
            if type(value) is not str:
                return None
            try:
                values[key] = _read_time(value)
            except ValueError:
                return None
    return Message(**values)


def message_from_json(data: Any) -> Message:
    """Read a Message from a decoded JSON value, leniently (never raises)."""
    if not isinstance(data, Mapping):
        return Message()
    fast = _fast_message(data)
    if fast is not None:
        return fast
    try:
        return _structure_message(data, Message)  # type: ignore[no-any-return]
    except Exception:  # fall back to reading what can be read
        return _message_field_by_field(data)
