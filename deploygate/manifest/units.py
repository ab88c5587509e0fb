"""Units in the manifest: sizes, counts, percentages, bandwidth and compute.

Sizes use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024); counts
K, M, B (1e3, 1e6, 1e9); bandwidth ``GB/s``; compute GFLOPS, TFLOPS or TOPS; changes ``"10%"``.
Each parser raises ValueError with a hint that the manifest loader turns into a located error.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

_NUMBER = r"(\d+(?:\.\d+)?)"
_SIZE_UNITS = {
    "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}
_COUNT_UNITS = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9}
_COMPUTE_UNITS = {"GFLOPS": 1e9, "TFLOPS": 1e12, "TOPS": 1e12, "GOPS": 1e9}
MAX_QUANTITY = 2**63 - 1
"""The largest size or count accepted (about 9.2 EB): beyond it a value is a typo or an attack,
and downstream arithmetic (floats, int64 runtimes) would overflow."""


def _split(text: str, pattern: str, what: str, hint: str) -> tuple[float, str]:
    m = re.fullmatch(_NUMBER + pattern, text)
    if not m:
        raise ValueError(f"{text!r} is not {what} (try {hint})")
    return float(m.group(1)), m.group(2).upper()


def _exact(text: str, pattern: str, what: str, hint: str, units: dict[str, int]) -> int:
    # Decimal, not float: '4.1KB' is 4100 bytes exactly, and 400 digits do not overflow.
    m = re.fullmatch(_NUMBER + pattern, text)
    if not m:
        raise ValueError(f"{text!r} is not {what} (try {hint})")
    return _bounded(int(Decimal(m.group(1)) * units[m.group(2).upper()]), text, what)


def _bounded(value: int, text: object, what: str) -> int:
    if value < 0:
        raise ValueError(f"{value} is not {what}: it is negative")
    if value > MAX_QUANTITY:
        shown = text if isinstance(text, str) and len(text) <= 40 else "the value"
        raise ValueError(f"{shown} is larger than any real {what.removeprefix('a ')} "
                         f"(at most {MAX_QUANTITY}); check the number")
    return value


def _finite(value: float, text: object, what: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite {what.removeprefix('a ')}; check the number")
    return value


def _to_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits
        return math.inf


def parse_size(value: int | str) -> int:
    """Bytes from an integer or a string such as ``1GB`` or ``512MiB``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size (try 1GB or 1GiB)")
    if isinstance(value, int):
        return _bounded(value, value, "a size")
    return _exact(value, r"([KMGT]i?B|B)", "a size", "1GB or 1GiB", _SIZE_UNITS)


def parse_count(value: int | str) -> int:
    """A count from an integer or a string such as ``25M`` or ``7B``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a count (try 25M)")
    if isinstance(value, int):
        return _bounded(value, value, "a count")
    return _exact(value, r"([KMB]?)", "a count", "25M or 1.5B", _COUNT_UNITS)


def parse_percent(value: str) -> float:
    """A fraction from ``"10%"`` (0.1)."""
    number, _ = _split(str(value), r"(%)", "a percentage", '"10%"')
    return _finite(number / 100, value, "a percentage")


def parse_bandwidth(value: int | float | str) -> float:
    """Bytes per second from a number or a string such as ``8GB/s``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _finite(_to_float(value), value, "a bandwidth")
    number, unit = _split(str(value), r"([KMGT]B)/s", "a bandwidth", "8GB/s")
    return _finite(number * _SIZE_UNITS[unit], value, "a bandwidth")


def parse_compute(value: int | float | str) -> float:
    """Operations per second from a number or a string such as ``50GFLOPS`` or ``40TOPS``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _finite(_to_float(value), value, "a compute rate")
    number, unit = _split(str(value), r"(GFLOPS|TFLOPS|TOPS|GOPS)", "a compute rate", "50GFLOPS")
    return _finite(number * _COMPUTE_UNITS[unit], value, "a compute rate")


def is_binary_size(n: float) -> bool:
    """Whether ``n`` bytes read in binary units: a whole number of MiB, as ``2GiB`` gives."""
    return n >= 2**20 and n % 2**20 == 0


def format_bytes(n: float, binary: bool | None = None) -> str:
    """``n`` bytes for people: binary units when ``n`` is whole MiB (as in ``2GiB``), else decimal;
    ``binary`` forces one or the other (figures read against a binary size use its units)."""
    if binary is None:
        binary = is_binary_size(n)
    if binary and n >= 2**20:
        for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
            if n >= scale:
                return f"{n / scale:.3g} {unit}"
    for unit, decimal in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= decimal:
            return f"{n / decimal:.3g} {unit}"
    return f"{int(n)} B"


def format_count(n: float) -> str:
    """A count with K, M or B (e.g. ``1.17M``)."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.4g}{unit}"
    return str(int(n))
