"""The hostile-input harness: a throwaway repository, the real command, and the promises.

Every case builds its fixture in ``tmp_path``, runs ``python -m deploygate`` in a subprocess
with a controlled environment, and calls :func:`expect`, which checks what deploygate promises
for any input: the documented exit code, one located line naming the file and the problem, no
traceback, bounded wall time, no code run (the canary), no bytes read from outside the
repository shown (the secret), and nothing written next to the artifacts.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
MANIFEST = "deploy-constraints.yaml"
# A sanity bound against hangs, not a performance assertion: cases take about a second.
WALL_LIMIT_S = 30.0


@dataclass(frozen=True)
class Outcome:
    """What one run of the command did."""

    args: tuple[str, ...]
    """The command-line arguments after ``deploygate``."""
    code: int
    """Exit status."""
    stdout: str
    """Standard output."""
    stderr: str
    """Standard error."""
    seconds: float
    """Wall time."""

    @property
    def report(self) -> dict[str, Any] | None:
        """The JSON report, when stdout holds one."""
        try:
            value = json.loads(self.stdout, parse_constant=_not_json)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def problems(self) -> list[tuple[str | None, str, str | None]]:
        """Every error as (rule, key path and message, file the location names).

        From the JSON report's findings when stdout holds one, else from stderr's error lines.
        """
        report = self.report
        if report is None:
            return [(None, line, None) for line in self.stderr.splitlines()
                    if line.startswith("deploygate: ") or ": error: " in line]
        found = list(report.get("findings", []))
        for model in report.get("models", []):
            found.extend(model.get("findings", []))
        problems = []
        for f in found:
            if f["severity"] != "error":
                continue
            location = f.get("location") or {}
            # The key path, then the message (as the text report shows them); the path may
            # hold escaped characters from the file, the message must be one line by itself.
            key = f"{location['path']!r}: " if location.get("path") else ""
            problems.append((f["rule"], key + f["message"], location.get("file")))
        return problems

    def describe(self) -> str:
        """Everything, for assertion messages."""
        return (f"deploygate {' '.join(self.args)} -> exit {self.code} in {self.seconds:.1f}s\n"
                f"--- stdout\n{self.stdout[:4000]}\n--- stderr\n{self.stderr[:4000]}")


def _not_json(name: str) -> Any:
    # Python writes NaN and Infinity, which JSON (and every other parser) refuses.
    raise AssertionError(f"the JSON report contains {name}, which is not JSON")


class HostileRepo:
    """A git-less repository (a ``.git`` folder marks its root) plus a secret outside it."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "repo"
        (self.root / ".git").mkdir(parents=True)
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        self.home = tmp_path / "home"
        self.home.mkdir()
        # A random token: if it ever shows up in output, something read outside the repository.
        self.token = secrets.token_hex(16)
        self.secret = self.outside / "secret.txt"
        self.secret.write_text(f"{self.token}: {self.token}\n")
        # Hostile payloads try to create this file; it must never exist.
        self.canary = tmp_path / "CANARY"
        self._before: set[str] | None = None

    def write(self, relative: str, data: bytes | str) -> Path:
        """Write ``data`` at ``relative`` inside the repository; returns the path."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def manifest(self, text: bytes | str, name: str = MANIFEST) -> Path:
        """Write a manifest (raw text) at ``name``."""
        return self.write(name, text)

    def model(self, relative: str, data: bytes | None = None, *, fmt: str | None = None,
              extra: str = "") -> Path:
        """Write ``data`` at ``relative`` (when given) and a one-model manifest pointing at it."""
        if data is not None:
            self.write(relative, data)
        options = f", format: {fmt}" if fmt else ""
        self.manifest(f"version: 1\nmodels:\n  - {{name: m, path: {json.dumps(relative)}, "
                      f"target: {{kind: edge}}{options}{extra}}}\n")
        return self.root / relative

    def files(self) -> set[str]:
        """Every path under the repository (to see that nothing was written)."""
        return {str(p.relative_to(self.root)) for p in self.root.rglob("*")
                if ".git" not in p.parts}

    def run(self, *args: str, env: dict[str, str] | None = None) -> Outcome:
        """Run ``python -m deploygate ARGS`` in the repository with a controlled environment.

        ``env`` adds to (or, with a value of "", removes from) that environment.
        """
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "PYTHONPATH": str(PROJECT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LC_ALL": "C.UTF-8",
            # Keep numeric libraries to one thread: cases run one after another on small runners.
            "OMP_NUM_THREADS": "1",
        }
        base.update(env or {})
        env = {key: value for key, value in base.items() if value}
        self._before = self.files()
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "deploygate", *args], cwd=self.root,
                              env=env, capture_output=True, timeout=WALL_LIMIT_S)
        return Outcome(tuple(args), done.returncode,
                       done.stdout.decode("utf-8", "replace"),
                       done.stderr.decode("utf-8", "replace"), time.monotonic() - start)

    def check(self, manifest: str = MANIFEST, *args: str, probe: bool = False) -> Outcome:
        """``deploygate check --format json [--no-probe] --manifest MANIFEST``."""
        skip = () if probe else ("--no-probe",)
        return self.run("check", "--format", "json", *skip, "--manifest", manifest, *args)

    def inspect(self, path: str) -> Outcome:
        """``deploygate inspect --format json PATH``."""
        return self.run("inspect", "--format", "json", path)

    def expect(self, outcome: Outcome, code: int, *, rule: str | None = None,
               file: str | None = None, says: Iterable[str] = ()) -> str:
        """Assert the promises for ``outcome``; returns the matching one-line message."""
        return expect(self, outcome, code, rule=rule, file=file, says=says)


def expect(repo: HostileRepo, outcome: Outcome, code: int, *, rule: str | None = None,
           file: str | None = None, says: Iterable[str] = ()) -> str:
    """Check exit code, no traceback, time, canary, secret and writes; find the message.

    ``file`` must appear in the message itself, or be the file its location names (manifest
    findings are located in the manifest); ``says`` are fragments the message must contain.
    """
    why = outcome.describe()
    both = outcome.stdout + outcome.stderr
    assert outcome.code == code, why
    assert "Traceback" not in both, why
    assert "internal error" not in both, why
    assert outcome.seconds < WALL_LIMIT_S, why
    assert repo.token not in both, "the secret outside the repository leaked:\n" + why
    assert not repo.canary.exists(), "hostile input ran code:\n" + why
    assert repo._before is None or repo.files() == repo._before, "files were written:\n" + why
    if code == 0:
        return ""
    says = tuple(says)
    candidates = [(r, m, f) for r, m, f in outcome.problems() if rule is None or r == rule]
    assert candidates, f"no error{' ' + rule if rule else ''}:\n{why}"
    for _rule, message, located in candidates:
        named = file is None or file in message or located == file
        if named and all(s.lower() in message.lower() for s in says):
            assert "\n" not in message and "\r" not in message, why
            return message
    raise AssertionError(f"no message naming {file!r} and saying {says}:\n{why}")
