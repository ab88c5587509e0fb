"""Every rule deploygate reports, by stable id. The one registry: findings, docs and SARIF use it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Outcome(Enum):
    """What an error-severity finding of a rule means for the gate."""

    VIOLATION = 1
    """The gate has judged and the model does not fit (exit 1)."""
    CANNOT_JUDGE = 2
    """The gate could not judge (exit 2)."""


@dataclass(frozen=True)
class Rule:
    """A rule: a stable id, a kebab-case name, and the help shown in docs and SARIF."""

    id: str
    """``DG`` and three digits; the hundreds give the family."""
    name: str
    """Short kebab-case name, e.g. ``latency-over-budget``."""
    outcome: Outcome
    """Exit code class when a finding of this rule is an error."""
    summary: str
    """One sentence: what the rule checks."""
    fix: str
    """One sentence: what to do about it."""
    level: str = "error"
    """The severity its findings usually carry: error, warning or note."""


def _rule(id: str, name: str, outcome: Outcome, summary: str, fix: str,
          level: str = "error") -> Rule:
    return Rule(id, name, outcome, summary, fix, level)


V, J = Outcome.VIOLATION, Outcome.CANNOT_JUDGE

RULES: dict[str, Rule] = {r.id: r for r in (
    _rule("DG100", "usage-error", J, "The command line or its inputs cannot be used.",
          "Check the flags with --help."),
    _rule("DG101", "manifest-unreadable", J,
          "The manifest is missing, not UTF-8, too large, not YAML, or not a mapping.",
          "Fix the YAML at the line shown."),
    _rule("DG102", "manifest-schema", J, "The manifest does not match manifest schema v1.",
          "Correct the key or value at the line shown; `deploygate schema` prints the schema."),
    _rule("DG103", "duplicate-key", J, "A mapping in the manifest repeats a key.",
          "Keep one of the two keys."),
    _rule("DG104", "unknown-device", J,
          "A target names a device that is neither in the catalog nor under `devices`.",
          "Use an id from `deploygate devices` or declare the device under `devices`."),
    _rule("DG105", "duplicate-model-name", J, "Two models share a name.",
          "Give every model a unique name."),
    _rule("DG106", "path-outside-repository", J,
          "A path in the manifest resolves outside the repository.",
          "Use a path relative to the manifest that stays inside the repository."),
    _rule("DG107", "unknown-model", J, "--model names a model the manifest does not declare.",
          "Use a name from the manifest's `models`."),
    _rule("DG201", "artifact-missing", J, "The model path does not exist.",
          "Fix `path`, or commit the model file."),
    _rule("DG202", "artifact-corrupt", J, "The model file is truncated, corrupt or unreadable.",
          "Re-export the model."),
    _rule("DG203", "artifact-unsafe", V,
          "The model file would run code when loaded (e.g. a pickle calling os.system).",
          "Convert the weights to safetensors; never load this file."),
    _rule("DG204", "lfs-pointer", J, "The file is a Git LFS pointer, not the model.",
          "Run `git lfs pull`, or use `lfs: true` in actions/checkout."),
    _rule("DG205", "unsupported-format", J, "The file is not a model format deploygate reads.",
          "Export to ONNX or safetensors, or set `format`."),
    _rule("DG206", "format-mismatch", J,
          "The manifest's `format` disagrees with the file's content.",
          "Remove `format` or set it to the detected format."),
    _rule("DG207", "artifact-contains-code", V,
          "The archive carries code (TorchScript) that runs when it is loaded.",
          "Review the code, or ship weights as safetensors.", level="warning"),
    _rule("DG208", "external-data-refused", J,
          "An ONNX external-data location is absolute, escapes the model's folder, is a link, "
          "or lies past the end of its file.",
          "Re-save the model with external data beside it (onnx.save_model(..., location=NAME))."),
    _rule("DG301", "size-over-limit", V, "Bytes on disk exceed `limits.max_size`.",
          "Shrink the model (quantize, prune) or raise the limit."),
    _rule("DG302", "params-over-limit", V, "The parameter count exceeds `limits.max_params`.",
          "Use a smaller model or raise the limit."),
    _rule("DG303", "memory-over-limit", V,
          "Estimated serving memory exceeds `limits.max_memory`.",
          "Quantize the weights or raise the limit."),
    _rule("DG304", "device-memory-exceeded", V,
          "Estimated serving memory does not fit the target device's memory.",
          "Pick a device with more memory (`deploygate advise`) or shrink the model."),
    _rule("DG305", "edge-size", V,
          "An edge target without a device holds a model over the ~1 GB edge rule of thumb.",
          "Name the edge device in `target.device`, or shrink the model under 1 GB."),
    _rule("DG306", "target-kind-mismatch", J,
          "`target.kind` disagrees with the kind of `target.device`.",
          "Make `kind` match the device (see `deploygate devices`)."),
    _rule("DG401", "latency-over-budget", V,
          "Measured latency at the chosen percentile exceeds `latency.budget_ms`.",
          "Make the model faster, give it more threads, or raise the budget."),
    _rule("DG402", "latency-inconclusive", V,
          "The budget lies inside the measurement's noise band; the verdict is uncertain.",
          "Re-run on a quieter runner, or keep the budget clear of the measured band.", level="warning"),
    _rule("DG403", "probe-failed", J, "The latency probe could not run the model.",
          "Pin the inputs under `latency.inputs` or `latency.dims` as the message says."),
    _rule("DG404", "latency-not-measured", V,
          "A latency budget is declared but no latency was measured.",
          "Run without --no-probe, or use a format onnxruntime can run.", level="warning"),
    _rule("DG405", "target-latency-over-budget", V,
          "The estimated latency on the target device exceeds `latency.budget_ms`.",
          "Pick a faster device (`deploygate advise`) or make the model smaller."),
    _rule("DG406", "target-latency-inconclusive", V,
          "The budget lies inside the uncertainty band of the target-latency estimate.",
          "Measure on the device itself (--on-device) or keep the budget clear of the band.",
          level="warning"),
    _rule("DG407", "target-latency-not-estimable", V,
          "The target device's latency cannot be estimated: too little of the model's work could "
          "be counted (shapes unknown, ops without a cost model).",
          "Pin the inputs (`latency.inputs`, `latency.dims`) so shapes are known, or measure on "
          "the device itself (--on-device).", level="warning"),
    _rule("DG501", "cost-over-budget", V,
          "The cost of 1,000 inferences exceeds `cost.max_usd_per_1k`.",
          "Pick a cheaper device, batch requests, or raise the ceiling."),
    _rule("DG502", "cost-unknown", J,
          "A cost ceiling is declared but the device has no price or no latency was measured.",
          "Give the device a `price_per_hour`, and do not skip the probe."),
    _rule("DG601", "baseline-unavailable", J, "The baseline ref cannot be resolved or read.",
          "Fetch the base ref (`fetch-depth: 0` or `git fetch origin <base> --depth=1`)."),
    _rule("DG602", "size-regression", V,
          "Size grew more than `baseline.max_size_increase`.",
          "Shrink the model or raise the allowed increase."),
    _rule("DG603", "params-regression", V,
          "The parameter count grew more than `baseline.max_params_increase`.",
          "Shrink the model or raise the allowed increase."),
    _rule("DG604", "latency-regression", V,
          "Latency grew more than `baseline.max_latency_increase` (A/B median ratio).",
          "Find the slowdown or raise the allowed increase."),
    _rule("DG605", "model-new", V, "The model has no version on the baseline ref.",
          "Nothing to do: a new model is compared from its next change on.", level="note"),
    _rule("DG606", "model-removed", V, "A model on the baseline ref is gone from the manifest.",
          "Nothing to do if the removal is intended.", level="warning"),
    _rule("DG607", "baseline-skipped", V,
          "A baseline comparison was skipped (e.g. the base artifact is a Git LFS pointer).",
          "Install git-lfs on the runner so the base content can be read.", level="warning"),
)}


FAMILIES: dict[str, str] = {
    "1": "manifest", "2": "artifact", "3": "fit", "4": "latency", "5": "cost", "6": "regression",
}
"""Rule family by the id's hundreds digit (DESIGN.md, "Every finding has a stable rule id")."""


def family(rule_id: str) -> str:
    """The family of ``rule_id`` (``DG401`` -> ``latency``)."""
    return FAMILIES[rule_id[2]]


def docs_url(rule_id: str) -> str:
    """The rules reference anchor for ``rule_id``."""
    return f"https://github.com/deploygate/deploygate/blob/main/docs/rules.md#{rule_id.lower()}"


_FAMILIES = {
    "1": "Manifest", "2": "Artifact", "3": "Fit", "4": "Latency", "5": "Cost", "6": "Regression",
}


def render_rules_markdown() -> str:
    """docs/rules.md, generated from RULES (a test keeps the file in sync)."""
    lines = [
        "# Rules reference",
        "",
        "<!-- Generated from deploygate/rules.py by `python -m deploygate.rules > docs/rules.md`. -->",
        "",
        "Every finding carries one of these stable ids. An *error* of a rule marked **violation**",
        "exits 1 (the model does not fit); one marked **cannot judge** exits 2. Warnings exit 0,",
        "or 1 under `--strict`.",
    ]
    family = ""
    for rule in RULES.values():
        if rule.id[2] != family:
            family = rule.id[2]
            lines += ["", f"## DG{family}xx — {_FAMILIES.get(family, 'Usage')}"]
        outcome = "violation" if rule.outcome is Outcome.VIOLATION else "cannot judge"
        lines += ["", f"### {rule.id}", "", f"**{rule.name}** ({outcome}). {rule.summary}", "",
                  f"Fix: {rule.fix}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_rules_markdown(), end="")
