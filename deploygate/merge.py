"""Fan-in of matrix shards: JSON reports read back into one Report, rendered once.

Each shard of `deploygate matrix` runs `check --write json=...`; `deploygate merge` reads those
files (bounded, validated against the report schema, never trusted to be well formed), rebuilds
the typed report, and combines them, so the merged run has one verdict, one exit code and every
output format, as if one job had judged every model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deploygate import __version__
from deploygate.targets.assess import Assessment
from deploygate.targets.cost import CostEstimate
from deploygate.targets.estimate import TargetEstimate
from deploygate.targets.memory import MemoryEstimate
from deploygate.targets.workload import Workload
from deploygate.artifacts.base import ArtifactInfo, TensorSpec
from deploygate.baseline import BaselineComparison, Change
from deploygate.errors import UsageError
from deploygate.findings import Finding, Location, Severity, Waived
from deploygate.manifest.model import LatencySpec, Target
from deploygate.probe.ab import ABLatency
from deploygate.probe.result import LatencyResult
from deploygate.report import ModelReport, Report
from deploygate.rules import RULES

MAX_REPORT_BYTES = 64 << 20
"""A shard's JSON report is read at most this far; a report is findings and figures, not data."""


def load_report(file: Path) -> Report:
    """The report in ``file`` (a `check --format json` report); UsageError when it is not one."""
    try:
        with file.open("rb") as f:
            raw = f.read(MAX_REPORT_BYTES + 1)
    except OSError as e:
        raise UsageError(f"{file}: cannot read the report: {e.strerror or e}") from None
    if len(raw) > MAX_REPORT_BYTES:
        raise UsageError(f"{file}: larger than {MAX_REPORT_BYTES >> 20} MiB; not a deploygate report")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise UsageError(f"{file}: not JSON ({e}); pass the files `check --write json=FILE` "
                         "wrote") from None
    _validate(file, data)
    report = report_from_json(data)
    if report.exit_code != data["exit_code"]:
        raise UsageError(f"{file}: its findings make exit {report.exit_code}, but it says "
                         f"{data['exit_code']}; the report was edited or written by another version")
    return report


def _validate(file: Path, data: Any) -> None:
    import jsonschema

    from deploygate.manifest.schema import load_schema

    validator = jsonschema.Draft202012Validator(load_schema("report.schema.json"))
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise UsageError(f"{file}: not a deploygate JSON report: {where.lstrip('.') or 'top level'}: "
                         f"{error.message[:200]}")
    rules = [f["rule"] for f in data["findings"]] + \
        [f["rule"] for m in data["models"] for f in m["findings"]]
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise UsageError(f"{file}: rules {', '.join(unknown)} are unknown to deploygate "
                         f"{__version__}; merge with the version that wrote the shards")


def merge_reports(files: list[Path]) -> Report:
    """One report of the shards in ``files``: every model, every finding, the strictest mode."""
    parts = [load_report(file) for file in files]
    return Report.combine(parts, strict=any(p.strict for p in parts))


def report_from_json(data: Mapping[str, Any]) -> Report:
    """The inverse of ``Report.to_json`` (for a document valid against the report schema)."""
    models = tuple(_model(m) for m in data["models"])
    return Report(data["manifest"], models, tuple(_finding(f) for f in data["findings"]),
                  strict=bool(data.get("strict", False)), host=dict(data["host"]),
                  manifests=tuple(data.get("manifests", ())))


def _model(m: Mapping[str, Any]) -> ModelReport:
    latency = m.get("latency")
    spec = LatencySpec(budget_ms=latency["budget_ms"], percentile=latency["percentile"],
                       on_inconclusive=latency.get("on_inconclusive", "warn")) if latency else None
    return ModelReport(
        name=m["name"], target=Target(m["target"]["kind"], m["target"]["device"]),
        artifact=_artifact(m["artifact"]) if m.get("artifact") else None,
        latency_spec=spec, latency=LatencyResult.from_json(latency) if latency else None,
        estimates=_estimates(m["estimates"]) if m.get("estimates") else None,
        baseline=_baseline(m["baseline"]) if m.get("baseline") else None,
        findings=tuple(_finding(f, m["name"]) for f in m["findings"]), manifest=m.get("manifest"))


def _estimates(e: Mapping[str, Any]) -> Assessment:
    memory = MemoryEstimate(e["weights_bytes"], e["activations_bytes"], e["overhead_bytes"],
                            e["kv_cache_bytes"], e.get("context_tokens", 0))
    w = e.get("workload")
    workload = None if w is None else Workload(
        w["flops"], w["bytes_moved"], w["weights_bytes"], w["activation_bytes"], w["coverage"],
        per=w["per"], kv_cache_bytes=w.get("kv_cache_bytes", 0),
        context_tokens=w.get("context_tokens", 0), prefill_flops=w.get("prefill_flops", 0.0),
        uncounted_ops=tuple(w.get("uncounted_ops", ())), assumptions=tuple(w.get("assumptions", ())))
    t = e.get("target_latency")
    target = None if t is None else TargetEstimate(
        t["ms"], t["low_ms"], t["high_ms"], t["method"], t["device"], bound=t["bound"],
        efficiency=t["efficiency"], calibrated=t["calibrated"], per=t["per"],
        runtime=t.get("runtime", ""), precision=t.get("precision", ""),
        path_chosen=t.get("path_chosen", ""), calibration=t.get("calibration", ""),
        host_calibration=t.get("host_calibration"))
    c = e.get("cost")
    cost = None if c is None else CostEstimate(c["usd_per_1k"], c["price_per_hour"], c["latency_ms"],
                                               c["latency_source"], c["batch"], c["missing"])
    return Assessment(memory, workload, target, cost, device_memory=e.get("device_memory_bytes"))


def _artifact(a: Mapping[str, Any]) -> ArtifactInfo:
    def tensor(t: Mapping[str, Any]) -> TensorSpec:
        return TensorSpec(t["name"], t["dtype"], None if t["shape"] is None else tuple(t["shape"]))

    return ArtifactInfo(a["path"], a["format"], a["size_bytes"], a["params"],
                        dict(a["bytes_by_dtype"]), tuple(tensor(t) for t in a["inputs"]),
                        tuple(tensor(t) for t in a["outputs"]), tuple(a.get("files", ())),
                        dict(a.get("details") or {}), contains_code=bool(a.get("contains_code")))


def _change(data: Mapping[str, Any] | None) -> Change | None:
    return Change(data["before"], data["after"]) if data else None


def _baseline(b: Mapping[str, Any]) -> BaselineComparison:
    ab = b.get("latency_ms")
    latency = ABLatency(ab["rounds"], ab["threads"], tuple(ab["base_p50_ms"]),
                        tuple(ab["head_p50_ms"])) if ab else None
    return BaselineComparison(
        b["ref"], b["source"], b["status"], commit=b.get("commit"), base_path=b.get("base_path"),
        size=_change(b.get("size_bytes")), params=_change(b.get("params")), latency=latency,
        size_from_lfs_pointers=bool(b.get("size_from_lfs_pointers")), reason=b.get("reason"),
        skipped=dict(b.get("skipped") or {}), notes=tuple(b.get("notes") or ()))


def _finding(f: Mapping[str, Any], model: str | None = None) -> Finding:
    loc = f.get("location")
    location = None if loc is None else Location(
        loc["file"], loc["path"], loc["line"], loc["column"], end_line=loc.get("end_line"),
        end_column=loc.get("end_column"), uri=loc.get("uri"))
    waived = f.get("waived")
    return Finding(f["rule"], Severity(f["severity"]), f["message"], location, model,
                   Waived(waived["reason"], waived["until"]) if waived else None)
