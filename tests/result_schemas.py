"""The platforms' results.json schemas (tests/schemas/) and a validator for the part of JSON
Schema they use (type, enum, minimum, maximum, required, properties, additionalProperties,
items): small enough to read, so the tests need no jsonschema dependency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parent / "schemas"
_TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "boolean": bool}


def _is(value: Any, kind: str) -> bool:
    if kind in ("number", "integer"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and (kind == "number" or float(value).is_integer())
    return isinstance(value, _TYPES[kind])


def errors(doc: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    out: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(doc, k) for k in kinds):
            return [f"{where}: expected {' or '.join(kinds)}, got {type(doc).__name__}"]
    if "enum" in schema and doc not in schema["enum"]:
        out.append(f"{where}: {doc!r} is not one of {schema['enum']}")
    if "minimum" in schema and _is(doc, "number") and doc < schema["minimum"]:
        out.append(f"{where}: {doc} < {schema['minimum']}")
    if "maximum" in schema and _is(doc, "number") and doc > schema["maximum"]:
        out.append(f"{where}: {doc} > {schema['maximum']}")
    if isinstance(doc, dict):
        props = schema.get("properties", {})
        out += [f"{where}: missing '{k}'" for k in schema.get("required", []) if k not in doc]
        for k, v in doc.items():
            if k in props:
                out += errors(v, props[k], f"{where}.{k}")
            elif schema.get("additionalProperties", True) is False:
                out.append(f"{where}: '{k}' is not a documented field")
    if isinstance(doc, list) and "items" in schema:
        for k, v in enumerate(doc):
            out += errors(v, schema["items"], f"{where}[{k}]")
    return out


def validate(doc: Any, platform: str) -> None:
    """Raise AssertionError listing every way ``doc`` breaks the platform's schema."""
    schema = json.loads((SCHEMAS / f"{platform}-results.schema.json").read_text())
    problems = errors(doc, schema)
    assert not problems, "\n".join(problems)
