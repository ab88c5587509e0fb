"""The stages import one way: no module imports a module of a higher stage (docs/architecture.md).

Every ``import`` counts, those inside functions too: a lazy import is still a dependency, and
hiding a cycle in a function is how layers start to reach across.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "deploygate"

# Lowest first. A module belongs to the stage of the longest prefix that names it.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("deploygate", "deploygate.rules", "deploygate.registry",
              "deploygate.errors", "deploygate.findings", "deploygate.paths", "deploygate.host",
              "deploygate.limits", "deploygate.pickle_policy")),
    # The device catalog and runtime paths are reference data a manifest names (a device id,
    # a runtime): the manifest stage checks against them.
    ("manifest", ("deploygate.manifest", "deploygate.targets.catalog", "deploygate.targets.runtimes")),
    ("artifacts", ("deploygate.artifacts",)),
    ("probe", ("deploygate.probe",)),
    ("baseline", ("deploygate.baseline",)),
    ("targets", ("deploygate.targets",)),
    ("checks", ("deploygate.checks",)),
    ("report", ("deploygate.report", "deploygate.merge")),
    ("reporters", ("deploygate.reporters", "deploygate.comment")),
    ("engine", ("deploygate.engine", "deploygate.policy", "deploygate.init", "deploygate.matrix",
                "deploygate.hooks")),
    ("cli", ("deploygate.cli", "deploygate.__main__")),
)
RANK = {name: i for i, (name, _) in enumerate(STAGES)}


def stage_of(module: str) -> str:
    """The stage of ``module``: the one whose prefix matches it longest."""
    best, length = "", -1
    for name, prefixes in STAGES:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = name, len(prefix)
    return best


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(module: str, path: Path) -> set[str]:
    names = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("deploygate")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            if base.startswith("deploygate"):
                names.add(base)
                names |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
    return names


MODULES = _modules()


def test_every_module_has_a_stage() -> None:
    assert [m for m in MODULES if not stage_of(m)] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_stage(module: str) -> None:
    own = RANK[stage_of(module)]
    upward = sorted(f"{target} ({stage_of(target)})" for target in _imports(module, MODULES[module])
                    if target in MODULES and RANK[stage_of(target)] > own)
    assert upward == [], f"{module} ({stage_of(module)}) imports a higher stage"


def test_the_architecture_document_names_the_stages_in_order() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagram = text.split("```mermaid", 1)[1].split("```", 1)[0]
    positions = [diagram.find(f"{name}[") for name, _ in STAGES]
    assert all(p >= 0 for p in positions), "every stage is a node of the diagram"
    assert positions == sorted(positions), "the diagram lists the stages lowest first"
