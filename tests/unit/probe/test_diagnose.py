"""One clean line out of onnxruntime's and the child's error output."""

from __future__ import annotations

import pytest

from deploygate.probe.diagnose import (
    clean_ort_message,
    failing_node,
    first_error_line,
    is_shape_error,
    looks_like_out_of_memory,
)

RESHAPE = (
    "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running If node. "
    "Name:'' Status Message: Non-zero status code returned while running Reshape node. "
    "Name:'r' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/"
    "reshape_helper.h:91 onnxruntime::ReshapeHelper::ReshapeHelper(const "
    "onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) input_shape_size == "
    "requested_shape_size was false. The input tensor cannot be reshaped to the requested "
    "shape. Input shape:{4}, requested shape:{3}\n"
)


def test_status_prefix_nesting_and_source_location_are_stripped() -> None:
    assert clean_ort_message(RESHAPE) == (
        "Reshape node 'r': The input tensor cannot be reshaped to the requested shape. "
        "Input shape:{4}, requested shape:{3}")


# What onnxruntime 1.31 said of a model one IR version newer than it reads (its signature, a
# C++ one with nested parentheses, used to be kept, and the cut at 300 characters fell before
# the explanation).
NEWER_IR = (
    "[ONNXRuntimeError] : 1 : FAIL : Load model from models/detector.onnx failed:/onnxruntime_src/"
    "onnxruntime/core/graph/model.cc:256 onnxruntime::Model::Model(onnx::ModelProto&&, const "
    "onnxruntime::PathString&, const onnxruntime::IOnnxRuntimeOpSchemaRegistryList*, const "
    "onnxruntime::logging::Logger&, const onnxruntime::ModelOptions&) Unsupported model IR "
    "version: 14, max supported IR version: 13\n"
)


def test_a_source_location_after_a_head_and_its_signature_are_stripped() -> None:
    assert clean_ort_message(NEWER_IR) == (
        "Load model from models/detector.onnx failed: Unsupported model IR version: 14, max "
        "supported IR version: 13")


def test_plain_status_prefix() -> None:
    text = ("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Unexpected input data type. "
            "Actual: (tensor(int64)) , expected: (tensor(float))")
    assert clean_ort_message(text).startswith("Unexpected input data type.")


def test_long_messages_are_cut() -> None:
    assert len(clean_ort_message("x" * 1000)) <= 300


def test_first_error_line_skips_warnings_and_colours() -> None:
    stderr = (
        "\x1b[0;93m2025-01-01 10:00:00.000000 [W:onnxruntime:, graph.cc:100 Init] unused\x1b[m\n"
        "\x1b[1;31m2025-01-01 10:00:00.100000 [E:onnxruntime:, sequential_executor.cc:516 "
        "ExecuteKernel] Non-zero status code returned while running Gather node. Name:'g' "
        "Status Message: indices element out of data bounds\x1b[m\n"
    )
    assert first_error_line(stderr) == "Gather node 'g': indices element out of data bounds"


def test_first_error_line_of_a_traceback_is_the_exception() -> None:
    stderr = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
              "    boom()\nKeyError: 'model'\n")
    assert first_error_line(stderr) == "KeyError: 'model'"


def test_abort_lines_are_found() -> None:
    stderr = "terminate called after throwing an instance of 'std::bad_alloc'\n  what():  x\n"
    assert "bad_alloc" in first_error_line(stderr)
    assert looks_like_out_of_memory(stderr)
    assert not looks_like_out_of_memory("Gather node: indices out of bounds")
    assert first_error_line("") == ""


def test_failing_node_is_the_innermost() -> None:
    raw = ("[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running If node. "
           "Name:'branch' Status Message: Non-zero status code returned while running Gather "
           "node. Name:'lookup' Status Message: indices element out of data bounds")
    assert failing_node(raw) == ("Gather", "lookup")
    assert failing_node("nothing about nodes") is None


@pytest.mark.parametrize(("text", "shape"), [
    ("Non concat axis dimensions must match: Axis 2 has mismatched dimensions of 19 and 20", True),
    ("Attempting to broadcast an axis by a dimension other than 1. 19 by 20", True),
    ("The input tensor cannot be reshaped to the requested shape. Input shape:{1,8}", True),
    ("indices element out of data bounds, idx=6 must be within the inclusive range [-5,4]",
     False),
])
def test_shape_errors_are_told_from_value_errors(text: str, shape: bool) -> None:
    assert is_shape_error(text) is shape


def test_a_cuda_kernel_failure_is_not_blamed_on_the_inputs_alone() -> None:
    # The shape of what onnxruntime's CUDA provider said on an H200 of an Expand past 2^31
    # elements (benchmarks/provider_check.py memory): a kernel's own limit, which pinning the
    # inputs' values cannot fix.
    import numpy as np

    from deploygate.artifacts.base import TensorSpec
    from deploygate.manifest.model import LatencySpec
    from deploygate.probe.measure import input_error

    raw = ("[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Expand "
           "node. Name:'' Status Message: CUDA error cudaErrorInvalidValue:invalid argument")
    error = input_error(raw, LatencySpec(), [TensorSpec("x", "float32", (1,))],
                        {"x": np.zeros(1, np.float32)}, None)
    assert error.message.startswith("the model failed on the GPU: Expand node: CUDA error "
                                    "cudaErrorInvalidValue:invalid argument;")
    assert "without latency.providers" in error.message and error.path == "latency.providers"


# What onnxruntime-gpu 1.31.1 wrote to stderr when asked for CUDA on a machine without CUDA's
# libraries (its error line, then the warning it falls back with).
NO_CUDA_LOG = (
    "Failed to load libcublasLt.so.13: libcublasLt.so.13: cannot open shared object file: No "
    "such file or directory\n"
    "\x1b[1;31m2026-12-01 00:50:16.085251731 [E:onnxruntime:Default, provider_bridge_ort.cc:2458 "
    "operator()] /onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 "
    "onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : "
    "Failed to load library /venv/lib/python3.11/site-packages/onnxruntime/capi/"
    "libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object "
    "file: No such file or directory\n\x1b[m\n"
    "\x1b[0;93m2026-12-01 00:50:16.085590283 [W:onnxruntime:Default, onnxruntime_pybind_state.cc:"
    "1295 CreateExecutionProviderFactoryInstance] Failed to create CUDAExecutionProvider.\x1b[m\n"
)


def test_the_reason_a_provider_did_not_start_is_onnxruntimes_first_logged_error() -> None:
    from deploygate.probe.diagnose import runtime_log_error

    assert runtime_log_error(NO_CUDA_LOG) == (
        "Failed to load library /venv/lib/python3.11/site-packages/onnxruntime/capi/"
        "libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared "
        "object file: No such file or directory")
    assert runtime_log_error("Failed to load libcublasLt.so.13: not found\n") == ""
