"""One error base per stage. Each carries the rule id it becomes when reported."""

from __future__ import annotations


class DeploygateError(Exception):
    """Base of every error deploygate reports to a user (never a bug).

    ``rule`` is the DG### id the error becomes as a finding; ``file`` is the file the message
    is about (manifest or artifact), and ``path`` the manifest key path, when known.
    """

    rule = "DG100"

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None,
                 rule: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.path = path
        if rule is not None:
            self.rule = rule

    def __str__(self) -> str:
        from deploygate.findings import one_line

        # File names come from the pull request and may hold line breaks: escape them here.
        prefix = f"{one_line(self.file)}: " if self.file else ""
        return f"{prefix}{self.message}"


class UsageError(DeploygateError):
    """Bad command-line usage (exit 2)."""

    rule = "DG100"


class ManifestError(DeploygateError):
    """The manifest cannot be read or is invalid."""

    rule = "DG102"


class ArtifactError(DeploygateError):
    """A model file is missing, unreadable, corrupt, unsafe or unsupported."""

    rule = "DG202"


class ProbeError(DeploygateError):
    """The latency probe could not measure the model."""

    rule = "DG403"


class BaselineError(DeploygateError):
    """The baseline ref cannot be resolved or read from git."""

    rule = "DG601"
