"""The composite action: inputs reach its scripts only through env, and the gate step's bash
builds the command line safely and sets its outputs (run here with bash, as on a runner)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
STEPS = {step.get("id"): step for step in ACTION["runs"]["steps"]}
INVALID = "version: 1\nmodels:\n  - name: det\n    path: m.onnx\n    target: {kind: edgy}\n"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def test_no_expression_is_expanded_inside_a_script() -> None:
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], step.get("name")
            assert step["shell"] == "bash"


def test_every_input_is_passed_to_a_step_through_env() -> None:
    env = {name: value for step in ACTION["runs"]["steps"] for name, value in step.get("env", {}).items()}
    passed = {value.removeprefix("${{ inputs.").removesuffix(" }}") for value in env.values()
              if value.startswith("${{ inputs.")}
    assert passed == set(ACTION["inputs"]) - {"python-version"}
    assert STEPS["python"]["with"]["python-version"] == "${{ inputs.python-version }}"
    uses = STEPS["python"]["uses"]
    assert len(uses.split("@")[1].split()[0]) == 40, "pin actions by full commit SHA"


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def run_gate(tmp_path: Path, deploygate: Path, extra_env: dict[str, str] | None = None,
             **inputs: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the gate step's script the way the runner does: bash, env from the inputs."""
    out = tmp_path / "github_output"
    out.touch()
    runner_temp = tmp_path / "runner_temp"
    runner_temp.mkdir(exist_ok=True)
    defaults = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    values = {**defaults, **{k.replace("_", "-"): v for k, v in inputs.items()}}
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update({"GITHUB_OUTPUT": str(out), "RUNNER_TEMP": str(runner_temp),
                "DEPLOYGATE": str(deploygate), "PYTHONPATH": str(ROOT), **(extra_env or {})})
    for name, value in STEPS["gate"]["env"].items():
        if value.startswith("${{ inputs."):
            env[name] = values[value.removeprefix("${{ inputs.").removesuffix(" }}")]
    result = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c",
                             STEPS["gate"]["run"]], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    return result, outputs(out)


def executable(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def recorder(tmp_path: Path) -> Path:
    """A stand-in deploygate that records its arguments, one per line, and exits 1."""
    return executable(tmp_path / "fake-deploygate",
                      '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$RUNNER_TEMP/args"\nexit 1\n')


def test_arguments_are_built_from_env_without_shell_evaluation(tmp_path: Path, recorder: Path) -> None:
    models = "det  $(touch pwned)\n`touch pwned2` --debug;rm\n*"
    result, out = run_gate(tmp_path, recorder, manifest="-m x.yaml", models=models,
                           base_ref="origin/main", strict="true", no_probe="true",
                           sarif_file="out dir/r.sarif")
    assert result.returncode == 1
    args = (tmp_path / "runner_temp" / "args").read_text().splitlines()
    # The stand-in wrote no report, so the output is empty; the path still went to --write.
    assert out["report-json"] == ""
    report = args[3].removeprefix("--write=json=")
    assert report.startswith(str(tmp_path / "runner_temp")) and report.endswith("/report.json")
    assert args == ["check", "--manifest=-m x.yaml", "--format=github", f"--write=json={report}",
                    "--model=det", "--model=$(touch", "--model=pwned)", "--model=`touch",
                    "--model=pwned2`", "--model=--debug;rm", "--model=*", "--base=origin/main",
                    "--strict", "--no-probe", "--write=sarif=out dir/r.sarif"]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert out["passed"] == "false" and out["exit-code"] == "1"


def test_defaults_check_every_model(tmp_path: Path, recorder: Path) -> None:
    run_gate(tmp_path, recorder)
    args = (tmp_path / "runner_temp" / "args").read_text().splitlines()
    assert args[:3] == ["check", "--manifest=deploy-constraints.yaml", "--format=github"]
    assert len(args) == 4


def test_boolean_inputs_are_checked(tmp_path: Path, recorder: Path) -> None:
    result, _ = run_gate(tmp_path, recorder, strict="yes")
    assert result.returncode == 2
    assert "::error title=deploygate::input strict must be true or false" in result.stdout


def test_real_gate_sets_outputs_writes_reports_and_the_summary(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "deploy-constraints.yaml").write_text(INVALID, encoding="utf-8")
    wrapper = executable(tmp_path / "deploygate",
                         f'#!/usr/bin/env bash\nexec "{sys.executable}" -m deploygate "$@"\n')
    summary = tmp_path / "summary.md"
    result, out = run_gate(tmp_path, wrapper, {"GITHUB_STEP_SUMMARY": str(summary)},
                           sarif_file="deploygate.sarif")
    assert result.returncode == 2, result.stderr
    assert out["passed"] == "false" and out["exit-code"] == "2"
    assert '"rule": "DG102"' in Path(out["report-json"]).read_text()
    assert '"ruleId": "DG102"' in (tmp_path / "deploygate.sarif").read_text()
    assert result.stdout.startswith("::error file=deploy-constraints.yaml,line=5,col=20,")
    assert summary.read_text().startswith("<!-- deploygate -->\n## ❌ deploygate failed (exit 2)")


def run_install(tmp_path: Path, extras: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the install step's script with a stand-in Python that records pip's arguments."""
    log = tmp_path / "pip-args"
    fake_python = executable(tmp_path / "fake-python", f"""#!/usr/bin/env bash
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && ln -s "$0" "$3/bin/python"
else
  for arg in "$@"; do echo "$arg"; done > {log}
fi
""")
    runner_temp = tmp_path / "runner_temp"
    runner_temp.mkdir(exist_ok=True)
    out = tmp_path / "github_output"
    out.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update({"GITHUB_OUTPUT": str(out), "RUNNER_TEMP": str(runner_temp),
                "GITHUB_ACTION_PATH": "/action", "PYTHON": str(fake_python), "EXTRAS": extras})
    assert STEPS["install"]["env"]["EXTRAS"] == "${{ inputs.extras }}"
    result = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c",
                             STEPS["install"]["run"]], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    return result, log


def test_extras_install_the_named_backends(tmp_path: Path) -> None:
    result, log = run_install(tmp_path, "litert, llama")
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines()[-1] == "/action[litert,llama]"
    result, log = run_install(tmp_path, "")
    assert log.read_text().splitlines()[-1] == "/action"


@pytest.mark.parametrize("extras", ["litert]; touch pwned #", "../x", "all,$(id)", "LITERT"])
def test_extras_that_are_not_names_are_refused_before_anything_installs(tmp_path: Path,
                                                                        extras: str) -> None:
    result, log = run_install(tmp_path, extras)
    assert result.returncode == 2 and "::error" in result.stdout
    assert not log.exists() and not (tmp_path / "pwned").exists()
