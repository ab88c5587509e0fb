"""Parsers for ``deploygate probe --dim k=v --input name=spec``.

``--input`` takes ``NAME=KEY:VALUE`` with one or more settings joined by ``;`` (or ``,`` when
the next setting starts with a key):

* ``shape:1x3x224x224`` (or ``1,3,224,224``; empty for a scalar)
* ``dtype:float16``
* ``range:0..999`` (two numbers, low and high)
* ``value:16000`` or ``value:[[1, 2], [3, 4]]`` (JSON)
* ``file:samples/ids.npy``
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from deploygate.errors import UsageError
from deploygate.manifest.model import InputSpec

_KEYS = ("shape", "dtype", "range", "value", "file")
_SPLIT = re.compile(r"\s*[;,]\s*(?=(?:" + "|".join(_KEYS) + r"):)")
_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
           "uint8", "uint16", "uint32", "uint64", "bool")


def parse_dim_option(text: str) -> tuple[str, int]:
    """``batch=1`` -> ("batch", 1): one ``--dim`` option."""
    name, sep, size = text.partition("=")
    name = name.strip()
    if not sep or not name or any(c.isspace() for c in name):
        raise UsageError(f"--dim {text!r}: expected NAME=SIZE, e.g. --dim batch=1")
    try:
        value = int(size.strip())
    except ValueError:
        raise UsageError(f"--dim {text!r}: the size must be a whole number, e.g. "
                         f"--dim {name}=1") from None
    if value < 1:
        raise UsageError(f"--dim {text!r}: the size must be at least 1")
    return name, value


def parse_input_option(text: str) -> tuple[str, InputSpec]:
    """``x=shape:1x3x224x224;dtype:float32`` -> ("x", InputSpec(...)): one ``--input`` option."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name or not rest.strip():
        raise UsageError(f"--input {text!r}: expected NAME=KEY:VALUE, e.g. "
                         "--input x=shape:1x3x224x224")
    settings: dict[str, Any] = {}
    for part in _SPLIT.split(rest.strip()):
        key, colon, raw = part.partition(":")
        key = key.strip()
        if not colon or key not in _KEYS:
            raise UsageError(f"--input {text!r}: {part!r} is not KEY:VALUE with KEY one of "
                             f"{', '.join(_KEYS)}")
        if key in settings:
            raise UsageError(f"--input {text!r}: {key} is given twice")
        settings[key] = _parse_setting(text, key, raw.strip())
    return name, InputSpec(**settings)


def _parse_setting(text: str, key: str, raw: str) -> Any:
    where = f"--input {text!r}: {key}"
    if key == "shape":
        if raw in ("", "[]", "()"):
            return ()
        parts = re.split(r"\s*[x,]\s*", raw.strip("[]() "))
        if not all(p.isdigit() for p in parts):
            raise UsageError(f"{where}:{raw} is not sizes joined by x, e.g. shape:1x3x224x224")
        return tuple(int(p) for p in parts)
    if key == "dtype":
        if raw not in _DTYPES:
            raise UsageError(f"{where}:{raw} is not one of {', '.join(_DTYPES)}")
        return raw
    if key == "range":
        low, dots, high = raw.partition("..")
        try:
            if not dots:
                raise ValueError
            bounds = (_number(low), _number(high))
        except ValueError:
            raise UsageError(f"{where}:{raw} is not LOW..HIGH, e.g. range:0..999") from None
        if bounds[0] > bounds[1]:
            raise UsageError(f"{where}:{raw} is empty (LOW > HIGH)")
        return bounds
    if key == "value":
        try:
            value = json.loads(raw)
        except ValueError:
            raise UsageError(f"{where}:{raw} is not a number, true/false or a JSON list") \
                from None
        if not _numeric(value):
            raise UsageError(f"{where}:{raw} must be numbers or booleans")
        return value
    if not raw:
        raise UsageError(f"{where}: give a .npy path, e.g. file:samples/x.npy")
    return raw


def _number(text: str) -> float:
    number = float(text.strip())
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def _numeric(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_numeric(v) for v in value)
    return isinstance(value, (int, float, bool))
