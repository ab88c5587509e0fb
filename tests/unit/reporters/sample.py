"""One fixed Report that every reporter renders for its golden file."""

from __future__ import annotations

from deploygate.artifacts.base import ArtifactInfo, TensorSpec
from deploygate.findings import Finding, Location, Severity
from deploygate.manifest.model import Device, LatencySpec, Target
from deploygate.probe.result import LatencyResult
from deploygate.report import ModelReport, Report
from deploygate.targets.assess import Assessment
from deploygate.targets.memory import MemoryEstimate

MANIFEST = "deploy-constraints.yaml"
HOST: dict[str, str | int] = {"cpu": "Example CPU @ 2.40GHz", "cores": 4, "python": "3.11.7",
                              "onnxruntime": "1.23.2"}


def latency(p50: float, p90: float, p95: float, p99: float, threads: int = 2) -> LatencyResult:
    """A LatencyResult with fixed figures."""
    return LatencyResult(threads=threads, runs=120, p50_ms=p50, p90_ms=p90, p95_ms=p95, p99_ms=p99,
                         mean_ms=p50 + 1, min_ms=p50 - 1, max_ms=p99 + 2, stdev_ms=2.5,
                         host_cpu=str(HOST["cpu"]), onnxruntime=str(HOST["onnxruntime"]))


def passing_model() -> ModelReport:
    """An edge detector inside every limit, with latency measured."""
    return ModelReport(
        name="detector",
        target=Target("edge", "raspberry-pi-5"),
        device=Device("raspberry-pi-5", "edge", 8 * 2**30, cores=4, name="Raspberry Pi 5 (8 GB)"),
        artifact=ArtifactInfo(path="models/detector.onnx", format="onnx", size_bytes=4_745_517,
                              params=1_171_841, bytes_by_dtype={"float32": 4_687_364},
                              inputs=(TensorSpec("x", "float32", ("batch", 3, 224, 224)),),
                              runnable=True),
        latency_spec=LatencySpec(budget_ms=250, percentile="p95", threads=2),
        latency=latency(60.1, 70.2, 75.0, 80.3),
        estimates=Assessment(MemoryEstimate(weights=4_687_364, activations=602_112,
                                            overhead=25_710_524), device_memory=8 * 2**30),
    )


def failing_model() -> ModelReport:
    """A classifier over its size limit (DG301) and its latency budget (DG401)."""
    def at(path: str, line: int, column: int) -> Location:
        return Location(MANIFEST, path, line, column)

    return ModelReport(
        name="classifier",
        target=Target("edge", "jetson-nano"),
        artifact=ArtifactInfo(path="models/classifier.onnx", format="onnx", size_bytes=1_602_000_000,
                              params=400_500_000, bytes_by_dtype={"float32": 1_602_000_000},
                              runnable=True),
        latency_spec=LatencySpec(budget_ms=200, percentile="p95", threads=4),
        latency=latency(280.4, 301.9, 312.4, 330.0, threads=4),
        findings=(
            Finding("DG301", Severity.ERROR,
                    "1.6 GB on disk is over limits.max_size of 1 GB by 602 MB; quantize the "
                    "weights or raise the limit", at("models[1].limits.max_size", 24, 7),
                    "classifier"),
            Finding("DG401", Severity.ERROR,
                    "p95 latency 312.40 ms on this host (4 threads, 120 runs) is over the budget "
                    "of 200 ms by 112.40 ms", at("models[1].latency.budget_ms", 28, 7),
                    "classifier"),
        ),
    )


def manifest_finding() -> Finding:
    """A manifest-level schema error."""
    return Finding("DG102", Severity.ERROR,
                   "'percentile' must be one of p50, p90, p95, p99 (got 'p999')",
                   Location(MANIFEST, "defaults.latency.percentile", 6, 17))


def sample_report() -> Report:
    """The fixed Report behind every golden file."""
    return Report(MANIFEST, (passing_model(), failing_model()), (manifest_finding(),), host=HOST)
