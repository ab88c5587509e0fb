"""The files the pre-commit hooks run on, derived from the manifest names and the format registry.

``.pre-commit-hooks.yaml`` cannot import Python, so its ``files`` patterns are copies; they are
generated here (``python -m deploygate.hooks`` prints them) and a test fails when the YAML
differs, so a new format, extension or companion file reaches the hook by its registry line.

``deploygate-check`` runs when any file that can change a verdict changes: a manifest, a model
file of any format (its extensions, data files and shard indexes), the metadata read beside a
model (an LLM's config.json) and a probe input file (``latency.inputs.<name>.file``).
"""

from __future__ import annotations

import re

from deploygate.artifacts.formats import FORMATS
from deploygate.manifest.model import INPUT_FILE_SUFFIX, MANIFEST_NAMES


def _escape(text: str) -> str:
    """``text`` matched literally (a hyphen outside a set needs no escape: it reads better)."""
    return re.escape(text).replace("\\-", "-")


def _names(names: tuple[str, ...]) -> str:
    """A file named one of ``names``, in any folder."""
    return "(^|/)(" + "|".join(_escape(n) for n in names) + ")$"


def validate_files_pattern() -> str:
    """``deploygate-validate``'s ``files``: the manifests."""
    return _names(MANIFEST_NAMES)


def watched_suffixes() -> tuple[str, ...]:
    """Suffixes of the files ``deploygate-check`` runs on besides manifests and metadata."""
    suffixes = (s for f in FORMATS.values() for s in (*f.extensions, *f.data_extensions, *f.shards))
    return tuple(dict.fromkeys((*suffixes, INPUT_FILE_SUFFIX)))


def watched_names() -> tuple[str, ...]:
    """File names ``deploygate-check`` runs on: the manifests and each format's metadata files."""
    return tuple(dict.fromkeys((*MANIFEST_NAMES, *(n for f in FORMATS.values() for n in f.metadata))))


def check_files_pattern() -> str:
    """``deploygate-check``'s ``files``: one alternative per line in verbose mode, single-dot
    suffixes grouped into one."""
    simple = [s[1:] for s in watched_suffixes() if s.count(".") == 1]
    compound = [s for s in watched_suffixes() if s.count(".") > 1]
    lines = [_names(watched_names()),
             r"\.(" + "|".join(_escape(s) for s in simple) + ")$",
             *(_escape(s) + "$" for s in compound)]
    return "(?x)" + "\n|".join(lines)


def files_patterns() -> dict[str, str]:
    """Each hook's id and its ``files`` pattern."""
    return {"deploygate-validate": validate_files_pattern(),
            "deploygate-check": check_files_pattern()}


if __name__ == "__main__":
    for hook, pattern in files_patterns().items():
        print(f"# {hook}\n{pattern}\n")
