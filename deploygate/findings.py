"""Findings: what the gate says about a manifest or a model, and the exit code they make."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from deploygate.rules import RULES, Outcome

EXIT_OK = 0
EXIT_VIOLATION = 1
EXIT_CANNOT_JUDGE = 2
EXIT_INTERNAL = 3

MAX_MESSAGE_CHARS = 1000
"""Messages quote names from untrusted files; longer ones are elided in the middle."""
# Line breaks would split one finding over lines (and could start a CI workflow command such
# as ``::error::`` on a line of their own); other control characters (ESC starts terminal
# escape sequences: titles, hyperlinks, cursor moves) could rewrite a terminal; bidirectional
# overrides reorder what a reader sees; lone surrogates are undecodable bytes of a file name
# (surrogateescape) that no UTF-8 output can carry.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
                      "\ud800-\udfff]")


def elide(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` with its middle elided when longer than ``limit`` (the ends carry the fix)."""
    if len(text) > limit:
        keep = limit // 2
        text = f"{text[:keep]} ... {text[-keep:]}"
    return text


def escape_control(text: str) -> str:
    """``text`` with control, bidirectional and undecodable characters written as escapes."""
    return _CONTROL.sub(_escaped, text)


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` on one line: control characters escaped, the middle elided past ``limit``."""
    return elide(escape_control(text), limit)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return f"\\u{ord(char):04x}" if ord(char) > 0xFF else repr(char)[1:-1]


def terminal_lines(lines: Iterable[str]) -> str:
    """Plain-text output for a terminal or CI log: each line made safe by :func:`one_line`.

    Every text output (reports, ``inspect``, ``probe``, ``advise``) is joined here, so a name
    read from a file can neither start a line of its own nor send an escape sequence.
    """
    return "".join(one_line(line, limit=4 * MAX_MESSAGE_CHARS) + "\n" for line in lines)


class Severity(str, Enum):
    """How bad a finding is. Only errors (and warnings under --strict) fail the gate."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Location:
    """Where a finding points: a file, and in the manifest a key path resolved to line:column."""

    file: str
    """Path relative to the working directory (or repository) as the user would type it."""
    path: str | None = None
    """Manifest key path, e.g. ``models[0].latency.budget_ms``."""
    line: int | None = None
    """1-based line, when resolved."""
    column: int | None = None
    """1-based column, when resolved."""
    end_line: int | None = None
    """1-based line where the key or value the finding names ends, when known."""
    end_column: int | None = None
    """1-based column just past that end (exclusive, as SARIF counts), when known."""
    uri: str | None = None
    """``file`` relative to the repository root (POSIX), whatever folder the gate ran in;
    None when unknown or outside a repository. SARIF and GitLab reports point with it."""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where


@dataclass(frozen=True)
class Waived:
    """Why a finding does not fail the gate: a waiver in the manifest, until a date."""

    reason: str
    """The team's reason, from the waiver."""
    until: str
    """The waiver's last day, YYYY-MM-DD."""

    def __str__(self) -> str:
        return f"waived until {self.until}: {self.reason}"


@dataclass(frozen=True)
class Finding:
    """One judged fact: a rule, how bad, a one-line message, and where."""

    rule: str
    """Rule id, a key of ``deploygate.rules.RULES``."""
    severity: Severity
    """error, warning or note."""
    message: str
    """One line: what is wrong, with the numbers, and how to fix it."""
    location: Location | None = None
    """Manifest (or artifact) location; None for findings about the run as a whole."""
    model: str | None = None
    """The model's name, None for manifest-level findings."""
    waived: Waived | None = None
    """Set when a waiver in the manifest accepts this finding: reported, but never failing."""

    def __post_init__(self) -> None:
        # Messages quote names from untrusted files: bound them here, once, for every output.
        # Escaping is each output's own job (JSON, XML, workflow commands escape differently).
        object.__setattr__(self, "message", elide(self.message))

    @property
    def name(self) -> str:
        """The rule's kebab-case name."""
        return RULES[self.rule].name

    def exit_code(self, strict: bool = False) -> int:
        """The exit code this finding alone would cause (none when it is waived)."""
        if self.waived is not None:
            return EXIT_OK
        if self.severity is Severity.ERROR:
            return RULES[self.rule].outcome.value
        if self.severity is Severity.WARNING and strict:
            return Outcome.VIOLATION.value
        return EXIT_OK

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        key = f"{self.location.path}: " if self.location and self.location.path else ""
        line = f"{where}{self.severity.value}: {self.rule} {self.name}: {key}{self.message}"
        if self.waived is not None:
            line += f" ({self.waived})"
        # The plain-text form (text report, validate): one finding, one terminal line.
        return one_line(line, limit=4 * MAX_MESSAGE_CHARS)


def fingerprint(f: Finding, file: str | None = None) -> str:
    """A stable identity for ``f``: rule, file, model and key path, not the message's numbers.

    So a code-scanning alert or a Code Quality issue stays the same one when lines move or a
    re-measured latency changes the message. ``file`` defaults to the repository-relative path.
    """
    loc = f.location
    file = file if file is not None else ((loc.uri or loc.file) if loc is not None else "")
    # Without a key path the line is the best identity left (e.g. a YAML syntax error).
    where = (loc.path if loc is not None else None) or \
        (str(loc.line) if loc is not None and loc.line else f.message)
    identity = "\0".join((f.rule, file, f.model or "", where))
    return hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def exit_code(findings: Iterable[Finding], strict: bool = False) -> int:
    """The run's exit code: the worst of its findings (cannot-judge beats violation)."""
    return max((f.exit_code(strict) for f in findings), default=EXIT_OK)


def finding_json(f: Finding) -> dict[str, Any]:
    """One finding as JSON."""
    loc = f.location
    return {
        "rule": f.rule, "name": f.name, "severity": f.severity.value, "message": f.message,
        **({"waived": {"reason": f.waived.reason, "until": f.waived.until}} if f.waived else {}),
        "location": None if loc is None else
        {"file": loc.file, "line": loc.line, "column": loc.column, "path": loc.path,
         **{key: value for key, value in (("end_line", loc.end_line), ("end_column", loc.end_column),
                                          ("uri", loc.uri)) if value is not None}},
    }
