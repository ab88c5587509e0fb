"""The manifest's JSON Schema, loaded once from package data, and friendly error messages."""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any
from collections.abc import Iterator

from deploygate.findings import one_line

SCHEMA_FILE = "deploy-constraints.schema.json"


def schema_text(name: str = SCHEMA_FILE) -> str:
    """The text of a schema shipped in the package (``deploygate/schemas/``)."""
    return resources.files("deploygate").joinpath("schemas").joinpath(name).read_text("utf-8")


@lru_cache(maxsize=2)
def load_schema(name: str = SCHEMA_FILE) -> dict[str, Any]:
    """A shipped schema as a dict (parsed once per process)."""
    return json.loads(schema_text(name))  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator, validators

    # JSON Schema patterns are ECMA-262 regular expressions, where ``$`` (without the
    # multiline flag) matches only at the very end. Python's ``$`` also matches before a final
    # newline, so "m\n" would pass ``^[a-z0-9]+$``: check patterns with ECMA's meaning.
    ecma = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})
    return ecma(load_schema())


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"(?<!\\)\$$", r"\\Z", pattern))


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if isinstance(instance, str) and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_DEF_HINTS = {
    "size": "a size (an integer number of bytes, or e.g. 1GB, 512MiB)",
    "count": "a count (an integer, or e.g. 25M, 7B)",
    "percent": 'a percentage such as "10%"',
    "bandwidth": "a bandwidth such as 8GB/s",
    "compute": "a compute rate such as 50GFLOPS or 40TOPS",
}


def _def_name(subschema: Any) -> str | None:
    defs = load_schema()["$defs"]
    for name, definition in defs.items():
        if subschema is definition or subschema == definition:
            return str(name)
    return None


def _json_path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def iter_schema_problems(doc: Any) -> Iterator[tuple[str, bool, str]]:
    """Every schema error as (key path, points at the key rather than the value, message)."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        path = _json_path(error.absolute_path)
        where = path or "(top level)"
        value = error.instance
        if error.validator == "additionalProperties" and isinstance(value, dict):
            allowed = list(error.schema.get("properties", {}))
            for key in value:
                if key in allowed:
                    continue
                guess = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean '{guess[0]}'?)" if guess else \
                    (f" (allowed: {', '.join(allowed)})" if allowed else "")
                # The key comes from the file: quoted with its control characters escaped.
                yield (_json_path([*error.absolute_path, key]), True,
                       f"unknown key '{one_line(str(key), 120)}'{hint}")
            continue
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            yield path, True, f"missing required key '{missing}'"
            continue
        if error.validator == "anyOf" and (name := _def_name(error.schema)):
            yield path, False, f"{_kind_of(value)} is not {_DEF_HINTS[name]}"
            continue
        if error.validator == "type":
            expected = error.validator_value
            expected = " or ".join(expected) if isinstance(expected, list) else expected
            hint = ""
            if isinstance(value, bool) and "string" in expected:
                hint = " (YAML reads unquoted yes/no/on/off/true/false as booleans: quote it)"
            yield path, False, f"expected {expected}, got {_kind_of(value)}{hint}"
            continue
        if error.validator == "enum":
            options = [str(o) for o in error.validator_value]
            guess = difflib.get_close_matches(str(value), options, n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            yield path, False, f"{_kind_of(value)} is not one of {', '.join(options)}{hint}"
            continue
        if error.validator == "const":
            yield path, False, f"{_kind_of(value)} is not supported: expected {error.validator_value!r}"
            continue
        if error.validator == "pattern" and path.endswith(("name", "device")) or \
                error.validator == "propertyNames":
            yield path, False, (f"{_kind_of(value)} is not a valid id: use lowercase letters, digits, "
                                f"'.', '_' and '-', starting with a letter or digit")
            continue
        yield path, False, f"{error.message} ({where})"
