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
check="$(cd "$(dirname "$0")" && pwd)/provider_check.py"
export MODEL="$model" PYTHON="$python" CHECK="$check"
unshare -m bash -euo pipefail -c '
for listed in $(ldconfig -p | grep -E "libcublas|libcudart|libcudnn|libcurand|libcufft|libnvrtc" \
                | sed "s/.*=> //"); do
  real=$(readlink -f "$listed")
  case "$real" in */site-packages/*) continue;; esac  # the pip packages under test stay
  mount --bind /dev/null "$real"
done
echo "onnxruntime alone:        $("$PYTHON" "$CHECK" session 2>/dev/null | tail -1)"
echo "with preload_dlls():      $("$PYTHON" "$CHECK" session --preload 2>/dev/null | tail -1)"
out=$("$PYTHON" -m deploygate probe "$MODEL" --provider CUDAExecutionProvider --max-time-s 1 \
      --format json 2>&1) || { echo "deploygate probe: ${out##*deploygate: }"; exit 1; }
echo "deploygate probe:         $("$PYTHON" -c "import json, sys
d = json.loads(sys.argv[1]); print(\"ran on\", \", \".join(d[\"providers\"]), \"p50\", d[\"p50_ms\"], \"ms\")" "$out")"
'
