"""The text reporter's latency lines: which percentiles are estimated from few runs."""

from __future__ import annotations

from dataclasses import replace

from deploygate.reporters import text
from deploygate.report import Report
from tests.unit.reporters.sample import HOST, MANIFEST, latency, passing_model


def _latency_line(report_text: str) -> str:
    return next(line for line in report_text.splitlines() if "latency:" in line)


def test_check_text_marks_a_percentile_estimated_from_few_runs() -> None:
    model = passing_model()
    few = replace(latency(60.1, 70.2, 75.0, 80.3), runs=40, estimated_percentiles=("p95", "p99"))
    report = Report(MANIFEST, (replace(model, latency=few),), host=HOST)
    line = _latency_line(text.render(report))
    assert "p95 75.00 ms (estimated: 40 runs leave too few above p95)" in line


def test_check_text_says_nothing_when_the_percentile_is_measured() -> None:
    model = passing_model()
    report = Report(MANIFEST, (model,), host=HOST)
    assert "estimated" not in _latency_line(text.render(report))


def test_probe_text_stars_the_estimated_percentiles() -> None:
    few = replace(latency(60.1, 70.2, 75.0, 80.3), runs=40, estimated_percentiles=("p99",))
    out = text.render_probe("m.onnx", few, "p95", None, None)
    assert "p95 75.000 ms  p99 80.300 ms*" in out
    assert "(* estimated: 40 runs leave too few above it)" in out


def test_a_defaulted_batch_is_stated_with_the_key_or_flag_that_pins_it() -> None:
    batch = ({"input": "images", "axis": 0, "dim": "batch", "size": 1},
             {"input": "state", "axis": 0, "dim": None, "size": 1})
    lat = replace(latency(60.1, 70.2, 75.0, 80.3), defaulted_dims=batch)
    report = text.render(Report(MANIFEST, (replace(passing_model(), latency=lat),), host=HOST))
    assert ("assumed: images axis 0 ('batch') = 1 (batch-like and not pinned; "
            "latency.dims.batch sets it)") in report
    assert "assumed: state axis 0 = 1 (batch-like and not pinned; latency.inputs.state.shape" \
        in report
    out = text.render_probe("m.onnx", lat, "p95", None, None)
    assert "assumed: images axis 0 ('batch') = 1 (batch-like and not pinned; --dim batch=N" in out


def test_a_size_the_model_states_is_stated_with_its_source() -> None:
    stated = ({"input": "images", "axis": 2, "dim": "height", "size": 320,
               "source": "model metadata imgsz"},)
    lat = replace(latency(60.1, 70.2, 75.0, 80.3), defaulted_dims=stated)
    out = text.render_probe("m.onnx", lat, "p95", None, None)
    assert ("assumed: images axis 2 ('height') = 320 (from the model metadata imgsz; "
            "--dim height=N sets it)") in out


def test_the_flag_that_pins_a_defaulted_dim_is_one_shell_word() -> None:
    # Input and dim names come from the model: a space or a quote must not split the flag.
    odd = ({"input": "pixel values", "axis": 0, "dim": "batch size", "size": 1},
           {"input": "it's", "axis": 0, "dim": None, "size": 1})
    lat = replace(latency(60.1, 70.2, 75.0, 80.3), defaulted_dims=odd)
    out = text.render_probe("m.onnx", lat, "p95", None, None)
    assert "--dim 'batch size=N' sets it" in out
    assert "--input 'it'\"'\"'s=shape:...' sets it" in out
