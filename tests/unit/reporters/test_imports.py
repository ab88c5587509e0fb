"""Reporters and `deploygate matrix` stay light: no onnx, onnxruntime or numpy at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_reporters_and_matrix_import_nothing_heavy() -> None:
    code = ("import sys\n"
            "from deploygate.reporters import REPORTERS\n"
            "import importlib\n"
            "for module in [*REPORTERS.values(), 'deploygate.matrix']:\n"
            "    importlib.import_module(module)\n"
            "print(sorted({'onnx', 'onnxruntime', 'numpy'} & set(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
