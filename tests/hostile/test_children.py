"""deploygate's child processes import deploygate's modules, never the repository's.

``python -m`` puts the working folder first on ``sys.path``, and `deploygate check` runs in the
repository under test: a pull request that adds ``numpy.py`` (or a ``deploygate/`` folder) must
not have it imported by the calibration child, the HDF5 reader's child or the probe's child.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from deploygate.targets import calibrate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ONNX = ROOT / "examples" / "edge-detector" / "models" / "detector.onnx"


@pytest.fixture
def hostile_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder whose numpy, h5py, onnxruntime and deploygate write a canary."""
    canary = tmp_path / "CANARY"
    payload = f"open({str(canary)!r}, 'a').write(__name__ + '\\n')\n"
    for name in ("numpy", "h5py", "onnxruntime"):
        (tmp_path / f"{name}.py").write_text(payload)
    (tmp_path / "deploygate" / "targets").mkdir(parents=True)
    (tmp_path / "deploygate" / "__init__.py").write_text(payload)
    monkeypatch.chdir(tmp_path)
    return canary


def test_calibration_child_does_not_import_the_working_folder(hostile_cwd: Path) -> None:
    peaks = calibrate.measure_host_peaks(1)
    assert not hostile_cwd.exists(), hostile_cwd.read_text()
    assert peaks.threads == 1  # measured by the child, not the in-process fallback


def test_probe_child_does_not_import_the_working_folder(hostile_cwd: Path, tmp_path: Path) -> None:
    from deploygate.manifest.model import LatencySpec
    from deploygate.probe import probe_latency

    model = shutil.copy(EXAMPLE_ONNX, tmp_path / "m.onnx")
    result = probe_latency(Path(model), LatencySpec(max_time_s=0.2, dims={"batch": 1}),
                           threads=1, root=tmp_path, base_dir=tmp_path, display="m.onnx",
                           fmt="onnx")
    assert result.runs > 0 and not hostile_cwd.exists()


@pytest.mark.skipif(importlib.util.find_spec("h5py") is None, reason="h5py is not installed")
def test_hdf5_child_does_not_import_the_working_folder(hostile_cwd: Path) -> None:
    from deploygate.artifacts import inspect_artifact

    info = inspect_artifact(ROOT / "tests" / "data" / "keras" / "mlp.h5", display="mlp.h5")
    assert info.params == 58 and not hostile_cwd.exists()
