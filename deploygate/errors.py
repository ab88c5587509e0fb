"""One error base per stage. Each carries the rule it becomes when reported.

The rules declared here are the usage rules and each stage's default (what an error of that
stage is unless its raise names a more precise rule declared with the stage's code).
"""

from __future__ import annotations

from deploygate.rules import Outcome, Rule


DG100 = Rule("DG100", "usage-error", Outcome.CANNOT_JUDGE,
             "The command line or its inputs cannot be used.",
             "Check the flags with --help.")

DG102 = Rule("DG102", "manifest-schema", Outcome.CANNOT_JUDGE,
             "The manifest does not match manifest schema v1.",
             "Correct the key or value at the line shown; `deploygate schema` prints the schema.")

DG107 = Rule("DG107", "unknown-model", Outcome.CANNOT_JUDGE,
             "--model names a model the manifest does not declare.",
             "Use a name from the manifest's `models`.")

DG202 = Rule("DG202", "artifact-corrupt", Outcome.CANNOT_JUDGE,
             "The model file is truncated, corrupt or unreadable.",
             "Re-export the model.")

DG403 = Rule("DG403", "probe-failed", Outcome.CANNOT_JUDGE,
             "The latency probe could not run the model.",
             "Pin the inputs under `latency.inputs` or `latency.dims` as the message says.")

DG601 = Rule("DG601", "baseline-unavailable", Outcome.CANNOT_JUDGE,
             "The baseline ref cannot be resolved or read.",
             "Fetch the base ref (`fetch-depth: 0` or `git fetch origin <base> --depth=1`).")


class DeploygateError(Exception):
    """Base of every error deploygate reports to a user (never a bug).

    ``rule`` is the id of the rule the error becomes as a finding (a ``Rule`` constant is passed,
    declared beside the code that raises); ``file`` is the file the message
    is about (manifest or artifact), and ``path`` the manifest key path, when known.
    """

    rule: str = DG100.id

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None,
                 rule: Rule | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.path = path
        if rule is not None:
            self.rule = rule.id

    def __str__(self) -> str:
        from deploygate.findings import one_line

        # File names come from the pull request and may hold line breaks: escape them here.
        prefix = f"{one_line(self.file)}: " if self.file else ""
        return f"{prefix}{self.message}"


class UsageError(DeploygateError):
    """Bad command-line usage (exit 2)."""

    rule: str = DG100.id


class ManifestError(DeploygateError):
    """The manifest cannot be read or is invalid."""

    rule: str = DG102.id


class ArtifactError(DeploygateError):
    """A model file is missing, unreadable, corrupt, unsafe or unsupported."""

    rule: str = DG202.id


class ProbeError(DeploygateError):
    """The latency probe could not measure the model."""

    rule: str = DG403.id


class ProbeNeedsValues(ProbeError):
    """The probe needs sizes or values only the user can give; the message says how, as
    manifest keys and as ``deploygate probe`` flags, for everything missing at once."""


class ProviderNotStarted(ProbeError):
    """onnxruntime could not start a requested execution provider and fell back; its own log,
    in the probe child's stderr, says why."""


class BaselineError(DeploygateError):
    """The baseline ref cannot be resolved or read from git."""

    rule: str = DG601.id
