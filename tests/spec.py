"""Schemas of Bandwidth's OpenAPI description (bandwidth.yml), ready for jsonschema.

The spec is found through ``BWMSG_SPEC`` or at ``../shared/specs/bandwidth.yml`` from the repo
root; tests that need it are skipped with the reason when it is absent.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def spec_path() -> Path | None:
    """Where bandwidth.yml is, or None."""
    env = os.environ.get("BWMSG_SPEC")
    path = Path(env) if env else REPO.parent / "shared" / "specs" / "bandwidth.yml"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def _components() -> dict[str, Any]:
    path = spec_path()
    if path is None:
        pytest.skip("bandwidth.yml not found: set BWMSG_SPEC or put it at ../shared/specs/")
    with path.open(encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    components: dict[str, Any] = _convert(spec["components"])
    return components


def _convert(node: Any) -> Any:
    # OpenAPI 3.0 -> JSON Schema: `nullable: true` becomes a "null" type; every object schema
    # with properties is closed (additionalProperties: false) so that a field the spec does not
    # name is caught.
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _convert(value) for key, value in node.items()}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


_FORMATS = jsonschema.FormatChecker(formats=())


def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or _RFC3339.fullmatch(value) is not None


def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value) is not None


_FORMATS.checks("date-time")(_is_datetime)
_FORMATS.checks("uri")(_is_uri)


def schema(name: str) -> dict[str, Any]:
    """The schema ``components.schemas.<name>``, with every ``$ref`` resolvable."""
    components = _components()
    if name not in components["schemas"]:
        raise KeyError(f"no schema {name!r} in bandwidth.yml")
    return {"$ref": f"#/components/schemas/{name}", "components": components}


def example(name: str) -> Any:
    """The value of ``components.examples.<name>``."""
    return _components()["examples"][name]["value"]


@functools.cache
def _validator(name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema(name), format_checker=_FORMATS)


def validate(instance: Any, name: str) -> None:
    """Raise jsonschema.ValidationError unless ``instance`` matches schema ``name``."""
    _validator(name).validate(instance)
