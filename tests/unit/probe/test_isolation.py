"""The child process boundary: phases, kill on timeout, and a lean package import."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from deploygate.manifest.model import LatencySpec
from deploygate.probe.measure import spec_to_json
from deploygate.probe.process import child_environment, run_child

from tests.fixtures import probe_models as models


def request(model: Path, repo: Path, **spec: object) -> dict[str, object]:
    settings = {"max_time_s": 0.1, "warmup": 1, **spec}
    return {"model": str(model), "threads": 1, "root": str(repo), "base_dir": str(repo),
            "spec": spec_to_json(LatencySpec(**settings)),  # type: ignore[arg-type]
            "memory_cap": 2 << 30}


def test_custom_op_model_never_reaches_a_session(repo: Path) -> None:
    model = models.custom_op_model(repo / "m.onnx")
    outcome = run_child(request(model, repo), timeout_s=60)
    assert outcome.error is not None and "custom-op" in outcome.error["message"]
    phases = [e["phase"] for e in outcome.events if e["event"] == "phase"]
    assert phases == ["load"]


def test_phases_and_result_of_a_good_run(repo: Path) -> None:
    model = models.scalar_model(repo / "m.onnx")
    outcome = run_child(request(model, repo, dims={"t": 3}), timeout_s=60)
    assert outcome.result is not None and outcome.returncode == 0
    phases = [e["phase"] for e in outcome.events if e["event"] == "phase"]
    assert phases == ["load", "session", "first-run", "warmup", "measure"]
    json.dumps(outcome.result)  # plain JSON crossed the boundary, nothing else


def test_timeout_kills_the_process_group(repo: Path) -> None:
    model = models.endless_loop_model(repo / "m.onnx")
    # The limit counts from the child's start, imports included: on a very busy runner a child
    # can be killed before its first run starts, so such a kill is tried again with more time.
    for timeout_s in (3, 15, 60):
        outcome = run_child(request(model, repo), timeout_s=timeout_s)
        if not outcome.timed_out or outcome.phase == "first-run":
            break
    assert outcome.timed_out and outcome.phase == "first-run"
    assert outcome.returncode == -signal.SIGKILL


def test_a_crashing_child_is_reported_not_raised(repo: Path) -> None:
    outcome = run_child({"threads": 1}, timeout_s=60)
    assert outcome.result is None and outcome.error is None and not outcome.timed_out
    assert outcome.returncode not in (0, None)
    assert "KeyError" in outcome.stderr


def test_importing_the_probe_package_stays_lean() -> None:
    code = ("import sys, deploygate.probe\n"
            "print([m for m in ('numpy', 'onnx', 'onnxruntime') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], env=child_environment(), check=True,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert out.stdout.strip() == "[]"
