"""The shipped calibration is what a refit of the published measurements gives, and every
catalog path has a source."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploygate.targets.catalog import load_catalog
from deploygate.manifest.schema import load_schema
from deploygate.targets.runtimes import ELEMENT_BYTES, choose_path, load_calibration

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_calibration_is_what_a_refit_gives() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "refit_calibration.py"),
                             "--check"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_precision_a_target_may_name_has_an_element_size() -> None:
    target = load_schema()["properties"]["models"]["items"]["properties"]["target"]["properties"]
    assert set(target["precision"]["enum"]) == set(ELEMENT_BYTES)


def test_every_catalog_path_has_a_source_and_a_usual_runtime() -> None:
    for device in load_catalog().values():
        assert device.paths and device.runtime in device.paths, device.id
        for runtime, precisions in device.paths.items():
            for precision, peak in precisions.items():
                assert peak > 0
                assert f"paths.{runtime}.{precision}" in device.sources, (device.id, runtime)


def test_every_catalog_figure_has_a_source() -> None:
    import json
    from importlib import resources

    raw = json.loads(resources.files("deploygate.targets").joinpath("devices.json").read_text())
    for device_id, entry in raw.items():
        if device_id.startswith("_"):
            continue
        for figure in ("memory", "memory_bandwidth", "compute", "cores", "cache", "price_per_hour"):
            if figure in entry:
                assert figure in entry["sources"], (device_id, figure)


def test_fitted_bands_contain_the_estimate_and_paths_measured_are_calibrated() -> None:
    data = load_calibration()
    for runtime, entry in data["runtimes"].items():
        low, high = entry["band"]
        assert low <= 1.0 <= high, runtime
        assert entry["precisions"], runtime
    assert {"tensorrt", "qnn", "onnxruntime"} <= set(data["runtimes"])


def test_catalog_fixes_orin_figures_and_adds_the_super() -> None:
    catalog = load_catalog()
    agx, nano, superkit = (catalog[k] for k in
                           ("jetson-agx-orin", "jetson-orin-nano", "jetson-orin-nano-super"))
    assert agx.compute == 170e12 and "DLA" in agx.sources["compute"]  # the GPU's TOPS only
    assert nano.memory_bandwidth == 68e9 and superkit.memory_bandwidth == 102e9
    int8 = choose_path(superkit, precision="int8")
    assert int8 is not None and int8.peak == 33.5e12  # dense: half the 67 sparse TOPS
    # The Pis' compute figures are on one basis: theoretical peak.
    assert catalog["raspberry-pi-4"].compute == pytest.approx(57.6e9)
    assert catalog["raspberry-pi-5"].compute == pytest.approx(153.6e9)
