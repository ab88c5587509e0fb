"""DG2xx facts about a readable artifact that the gate reports: code inside it, training state.

DG207 artifact-contains-code (a warning) when loading the file runs code shipped inside it;
DG212 training-state-shipped (a note) when a training checkpoint carries optimizer state or
EMA copies beside the weights.
"""

from __future__ import annotations

from collections.abc import Iterator

from deploygate.checks.context import ModelContext
from deploygate.findings import Finding, Severity
from deploygate.manifest.units import format_bytes
from deploygate.rules import Outcome, Rule

DG207 = Rule("DG207", "artifact-contains-code", Outcome.VIOLATION,
             "The artifact carries code that runs when it is loaded (TorchScript, Keras Lambda "
             "layers).",
             "Review the code, or ship weights as safetensors.", level="warning")

DG212 = Rule("DG212", "training-state-shipped", Outcome.VIOLATION,
             "A training checkpoint ships optimizer state or EMA copies beside the model's "
             "weights; params count the weights alone.",
             "Ship the weights alone (torch.save(model.state_dict(), ...) or safetensors).",
             level="note")


def check(ctx: ModelContext) -> Iterator[Finding]:
    """Code that runs on load, and training state shipped with the weights."""
    art = ctx.artifact
    if art.contains_code:
        layers = art.details.get("code_layers")
        what = (f"a Keras model whose Lambda layers ({', '.join(layers)}) store Python bytecode"
                if layers else "a TorchScript archive")
        yield ctx.finding(DG207, "path", f"{art.path} is {what}: loading it runs the code inside; "
                          "review it or ship weights as safetensors", Severity.WARNING)
    state = art.training_state or {}
    saved = int(state.get("bytes", 0))
    if saved:
        held = " and ".join(f"{part} state ({', '.join(p['keys'])})"
                            for part, p in state.get("parts", {}).items())
        yield ctx.finding(DG212, "path",
                          f"{art.path} is a training checkpoint: beside the model's weights "
                          f"({', '.join(state.get('model_keys', []))}) it ships {held}; params and "
                          f"memory count the weights alone. Ship the weights alone "
                          f"(torch.save(model.state_dict(), ...) or safetensors) to save "
                          f"{format_bytes(saved)} ({saved} bytes)", Severity.NOTE)
