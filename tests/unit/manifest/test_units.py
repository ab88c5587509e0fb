"""Unit parsers: sizes, counts, percentages, bandwidth and compute, as DESIGN.md defines them."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from deploygate.manifest.units import (
    format_bytes, parse_bandwidth, parse_compute, parse_count, parse_percent, parse_size,
)


@pytest.mark.parametrize("text, expected", [
    (1234, 1234), ("1B", 1), ("1KB", 1000), ("1.5MB", 1_500_000), ("1GB", 10**9), ("2TB", 2 * 10**12),
    ("1KiB", 1024), ("512MiB", 512 * 2**20), ("2GiB", 2 * 2**30), ("1TiB", 2**40),
])
def test_sizes(text: int | str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["1 GB", "1gb", "GB", "-1GB", "1.GB", "1GBs", True])
def test_bad_sizes_say_how_to_write_one(text: object) -> None:
    with pytest.raises(ValueError, match="try 1GB or 1GiB"):
        parse_size(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("text, expected", [(7, 7), ("25M", 25_000_000), ("1.5B", 1_500_000_000),
                                            ("3K", 3000)])
def test_counts(text: int | str, expected: int) -> None:
    assert parse_count(text) == expected


def test_percent_bandwidth_compute() -> None:
    assert parse_percent("10%") == pytest.approx(0.1)
    assert parse_bandwidth("8GB/s") == 8e9 and parse_bandwidth(5.0) == 5.0
    assert parse_compute("50GFLOPS") == 50e9 and parse_compute("40TOPS") == 40e12


def test_format_bytes() -> None:
    assert format_bytes(4_745_517) == "4.75 MB" and format_bytes(512) == "512 B"
    # Forced units: a headroom read against an 8 GiB board is in GiB, whatever it is.
    assert format_bytes(8 * 2**30 - 69_100_000, binary=True) == "7.94 GiB"
    assert format_bytes(2**30, binary=False) == "1.07 GB"


@given(st.one_of(st.text(max_size=30), st.integers(min_value=0, max_value=2**62)))
def test_parsers_raise_only_value_error(value: str | int) -> None:
    for parse in (parse_size, parse_count):
        try:
            parse(value)
        except ValueError:
            pass
