#!/usr/bin/env bash
# Does `deploygate probe --provider CUDAExecutionProvider` run with CUDA and cuDNN from pip
# alone (`pip install 'onnxruntime-gpu[cuda,cudnn]'`), where no CUDA is on the system's library
# path? On a GPU machine, as root (it needs a private mount namespace):
#
#     bash benchmarks/provider_preload_check.sh MODEL.onnx
#
# In a private mount namespace it hides every CUDA runtime library the system's library cache
# lists (libcublas, libcudart, libcudnn, libcurand, libcufft, libnvrtc; the driver stays),
# leaving the nvidia-* pip packages, then makes a CUDA session on a one-node model with
# onnxruntime alone, and with onnxruntime.preload_dlls(), and probes MODEL with deploygate,
# printing the providers each ran on. Nothing outside the namespace changes.
set -euo pipefail
model="${1:?usage: provider_preload_check.sh MODEL.onnx}"
python="${PYTHON:-python3}"
session=$(mktemp)
trap 'rm -f "$session"' EXIT
cat > "$session" <<'PY'
import sys
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper
if sys.argv[1:] == ["preload"]:
    ort.preload_dlls()
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 64])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 64])
graph = helper.make_graph([helper.make_node("MatMul", ["x", "x"], ["y"])], "g", [x], [y])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
session = ort.InferenceSession(model.SerializeToString(), providers=["CUDAExecutionProvider"])
session.run(None, {"x": np.ones((64, 64), np.float32)})
print("session providers:", ", ".join(session.get_providers()))
PY
export SESSION="$session" MODEL="$model" PYTHON="$python"
unshare -m bash -euo pipefail -c '
for listed in $(ldconfig -p | grep -E "libcublas|libcudart|libcudnn|libcurand|libcufft|libnvrtc" \
                | sed "s/.*=> //"); do
  real=$(readlink -f "$listed")
  case "$real" in */site-packages/*) continue;; esac  # the pip packages under test stay
  mount --bind /dev/null "$real"
done
echo "onnxruntime alone:        $("$PYTHON" "$SESSION" 2>/dev/null | tail -1)"
echo "with preload_dlls():      $("$PYTHON" "$SESSION" preload 2>/dev/null | tail -1)"
out=$("$PYTHON" -m deploygate probe "$MODEL" --provider CUDAExecutionProvider --max-time-s 1 \
      --format json 2>&1) || { echo "deploygate probe: ${out##*deploygate: }"; exit 1; }
echo "deploygate probe:         $("$PYTHON" -c "import json, sys
d = json.loads(sys.argv[1]); print(\"ran on\", \", \".join(d[\"providers\"]), \"p50\", d[\"p50_ms\"], \"ms\")" "$out")"
'
