"""Manifests under tests/data/manifests: positives load clean, negatives give exactly the
findings their ``# expect: LINE:COL RULE KEYPATH`` comments list (check-jsonschema style)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deploygate.manifest.load import load_manifest

DATA = Path(__file__).resolve().parents[2] / "data" / "manifests"
EXPECT = re.compile(r"^# expect: (\d+):(\d+) (DG\d{3}) (\S+)$", re.MULTILINE)


@pytest.mark.parametrize("file", sorted((DATA / "positive").glob("*.yaml")), ids=lambda p: p.stem)
def test_positive_manifest_loads(file: Path) -> None:
    result = load_manifest(file)
    assert result.findings == ()
    assert result.manifest is not None and result.manifest.models


@pytest.mark.parametrize("file", sorted((DATA / "negative").glob("*.yaml")), ids=lambda p: p.stem)
def test_negative_manifest_findings(file: Path) -> None:
    expected = [(int(line), int(col), rule, None if path == "-" else path)
                for line, col, rule, path in EXPECT.findall(file.read_text())]
    assert expected, f"{file.name} has no '# expect:' lines"
    result = load_manifest(file, file.name)
    assert all(f.location is not None for f in result.findings)
    got = [(f.location.line, f.location.column, f.rule, f.location.path)
           for f in result.findings if f.location is not None]
    assert got == expected
    assert result.manifest is None
    for finding in result.findings:
        assert finding.location is not None and finding.location.file == file.name
        assert "\n" not in finding.message
