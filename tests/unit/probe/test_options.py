"""Parsers for the probe command's --dim and --input options."""

from __future__ import annotations

import pytest

from deploygate.errors import UsageError
from deploygate.manifest.model import InputSpec
from deploygate.probe.options import parse_dim_option, parse_input_option


def test_dim_option() -> None:
    assert parse_dim_option("batch=1") == ("batch", 1)
    assert parse_dim_option(" seq_len = 128 ") == ("seq_len", 128)


@pytest.mark.parametrize("text", ["batch", "=1", "batch=", "batch=x", "batch=0", "batch=1.5",
                                  "my dim=2"])
def test_bad_dim_option(text: str) -> None:
    with pytest.raises(UsageError, match="--dim"):
        parse_dim_option(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("x=shape:1x3x224x224", ("x", InputSpec(shape=(1, 3, 224, 224)))),
    ("x=shape:1,3,8,8", ("x", InputSpec(shape=(1, 3, 8, 8)))),
    ("sr=shape:", ("sr", InputSpec(shape=()))),
    ("ids=range:0..999", ("ids", InputSpec(range=(0.0, 999.0)))),
    ("t=range:-0.5..0.5", ("t", InputSpec(range=(-0.5, 0.5)))),
    ("sr=value:16000", ("sr", InputSpec(value=16000))),
    ("m=value:[[1, 2], [3, 4]]", ("m", InputSpec(value=[[1, 2], [3, 4]]))),
    ("flag=value:true", ("flag", InputSpec(value=True))),
    ("x=dtype:float16", ("x", InputSpec(dtype="float16"))),
    ("ids=file:samples/ids.npy", ("ids", InputSpec(file="samples/ids.npy"))),
    ("x=shape:1x3x8x8;dtype:float32;range:0..1",
     ("x", InputSpec(shape=(1, 3, 8, 8), dtype="float32", range=(0.0, 1.0)))),
    ("v=value:[1,2],shape:2x2", ("v", InputSpec(value=[1, 2], shape=(2, 2)))),
])
def test_input_option(text: str, expected: tuple[str, InputSpec]) -> None:
    assert parse_input_option(text) == expected


@pytest.mark.parametrize("text", [
    "x", "x=", "=shape:1", "x=shape", "x=size:3", "x=shape:1xa", "x=range:5..1", "x=range:1-5",
    "x=range:0..nan", "x=value:abc", "x=value:\"s\"", "x=value:[]", "x=dtype:complex64",
    "x=dtype:float16;dtype:float32", "x=file:",
])
def test_bad_input_option(text: str) -> None:
    with pytest.raises(UsageError, match="--input"):
        parse_input_option(text)
