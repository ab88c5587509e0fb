"""Human-readable report for a terminal.

Names in these lines come from manifests and model files; :func:`terminal_lines` escapes their
control characters where the lines are joined, so none can start a line (a forged CI workflow
command) or send a terminal escape sequence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deploygate.manifest.model import DEFAULT_PERCENTILE, PERCENTILES, Device
from deploygate.artifacts.base import ArtifactInfo
from deploygate.baseline import BaselineComparison
from deploygate.findings import Finding, Severity, terminal_lines
from deploygate.manifest.units import format_bytes, format_count, is_binary_size
from deploygate.probe.inputs import flag_word
from deploygate.probe.result import LatencyResult
from deploygate.report import ModelReport, Report

if TYPE_CHECKING:
    from deploygate.targets.advise import AdviceReport, DeviceAdvice


def _target(m: ModelReport) -> str:
    return f"{m.target.kind}/{m.target.device}" if m.target.device else m.target.kind


_COLORS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.NOTE: "cyan"}


def _paint(text: str, color: str, prefix: int | None = None) -> str:
    """``text`` (already escaped) in ``color`` (ANSI), or only its first ``prefix`` characters."""
    import click

    cut = len(text) if prefix is None else prefix
    return click.style(text[:cut], fg=color, bold=color in ("red", "green")) + text[cut:]


def model_lines(m: ModelReport) -> list[str]:
    """One model's block: the verdict line, then its facts indented."""
    verdict = "PASS" if m.passed else "FAIL"
    lines = [f"{verdict}  {m.name}  ({_target(m)})"]
    if m.artifact is not None:
        a = m.artifact
        lines.append(f"      {a.path}: {a.format}, {format_bytes(a.size_bytes)} on disk, "
                     f"{format_count(a.params)} params")
    est = m.estimates
    if est is not None:
        # Figures read against the device's memory are in its units: never "8.52 GB headroom"
        # on an 8 GiB board.
        binary = m.device is not None and is_binary_size(m.device.memory)
        fits = f" of {format_bytes(m.device.memory)} on {m.device.id}" if m.device else ""
        if est.headroom is not None and est.headroom >= 0:
            fits += f", {format_bytes(est.headroom, binary)} headroom"
        lines.append(f"      memory: ~{format_bytes(est.memory.total, binary)}{fits}")
    if m.latency is not None:
        lat, spec = m.latency, m.latency_spec
        pct = spec.percentile if spec else DEFAULT_PERCENTILE
        budget = f" (budget {spec.budget_ms:g} ms)" if spec and spec.budget_ms else ""
        interval = (f" [{lat.interval_ms[pct][0]:.2f}-{lat.interval_ms[pct][1]:.2f}]"
                    if pct in lat.interval_ms else "")
        judged = f", {m.latency_verdict}" if m.latency_verdict else ""
        runtime = f", {lat.runtime} {lat.runtime_version}".rstrip() if lat.runtime_version else ""
        providers = f" ({', '.join(lat.providers)})" if lat.providers else ""
        per = " per token" if lat.ttft is not None else ""
        lines.append(f"      latency: {pct} {lat.at(pct):.2f} ms{per}{_estimated(lat, pct)}"
                     f"{interval}{budget}{judged}, p50 {lat.p50_ms:.2f} ms; {lat.runs} runs, "
                     f"{lat.describe_threads()} on {lat.measured_on}{runtime}{providers}")
        if lat.ttft is not None:
            ttft_budget = (f" (budget {spec.ttft_ms:g} ms)" if spec and spec.ttft_ms else "")
            minimum = (f" (minimum {spec.tokens_per_s:g})" if spec and spec.tokens_per_s else "")
            lines.append(f"      time to first token: {pct} {lat.ttft.at(pct):.1f} ms"
                         f"{ttft_budget} for {lat.prompt_tokens} prompt tokens; decode "
                         f"{lat.tokens_per_s or 0:.1f} tokens/s{minimum} over {lat.new_tokens}")
        lines += assumed_lines(lat, "        ", flags=False)
    target = est.target if est is not None else None
    if target is not None:
        band = (f" (band {target.low_ms:.3g}-{target.high_ms:.3g} ms, "
                f"{'calibrated' if target.calibrated else 'uncalibrated'}, {target.bound}-bound)")
        per = " per token" if target.per == "token" else ""
        via = f" via {target.runtime}/{target.precision}" if target.runtime else ""
        lines.append(f"      estimated on {m.target.device}{via}: {target.ms:.3g} ms{per}{band}")
        if target.path_chosen:
            lines.append(f"        path: {target.path_chosen}; {target.calibration}")
    if m.usd_per_1k is not None:
        lines.append(f"      cost: ${m.usd_per_1k:.4f} per 1,000 inferences")
    if m.baseline is not None:
        lines.append(f"      {baseline_line(m.baseline)}")
    return lines


def assumed_lines(result: LatencyResult, indent: str, *, flags: bool) -> list[str]:
    """The dims the probe set itself (batch-like ones to 1, others to the size the model
    states), and how to pin them (flags or manifest keys)."""
    lines = []
    for d in result.defaulted_dims:
        named = f" ({d['dim']!r})" if d["dim"] else ""
        if flags:
            # Names come from the model: quoted, so the flag can be pasted into a shell.
            pin = (f"--dim {flag_word(d['dim'] + '=N')}" if d["dim"]
                   else f"--input {flag_word(d['input'] + '=shape:...')}")
        else:
            pin = (f"latency.dims.{d['dim']}" if d["dim"]
                   else f"latency.inputs.{d['input']}.shape")
        source = d.get("source", "batch")
        why = "batch-like and not pinned" if source == "batch" else f"from the {source}"
        lines.append(f"{indent}assumed: {d['input']} axis {d['axis']}{named} = {d['size']} "
                     f"({why}; {pin} sets it)")
    return lines


def baseline_line(b: BaselineComparison) -> str:
    """``vs origin/main (1a2b3c4d5e): size 4.75 MB → 19 MB (+300%); params ...``."""
    from deploygate.baseline import describe

    where = f"vs {b.ref} ({b.commit[:10]})" if b.commit else f"vs {b.ref or 'no base ref'}"
    if b.status == "new":
        return f"{where}: new model, no baseline"
    if b.status != "compared":
        return f"{where}: not compared ({b.reason})"
    parts = []
    if b.size is not None:
        parts.append(f"size {describe('size', b.size)}"
                     + (" (base size from its LFS pointer)" if b.size_from_lfs_pointers else ""))
    if b.params is not None:
        parts.append(f"params {describe('params', b.params)}")
    if b.latency is not None:
        ab = b.latency
        parts.append(f"p50 latency {ab.base_median_ms:.3f} ms → {ab.head_median_ms:.3f} ms "
                     f"(x{ab.ratio:.2f}, {ab.rounds} alternating rounds)")
    parts.extend(f"{measure} not compared" for measure in b.skipped)
    return f"{where}: " + "; ".join(parts)


def render_artifact(info: ArtifactInfo) -> str:
    """`deploygate inspect` as text: size, parameters, bytes by dtype, tensors, details, safety."""
    files = len(info.files) or 1
    lines = [f"{info.path}: {info.format}",
             f"  size:    {format_bytes(info.size_bytes)} ({info.size_bytes} bytes, "
             f"{files} file{'s' * (files > 1)})",
             f"  params:  {format_count(info.params)} ({info.params})"]
    lines += [f"  {dtype + ':':<9}{format_bytes(n)}" for dtype, n in sorted(info.bytes_by_dtype.items())]
    for label, tensors in (("input", info.inputs), ("output", info.outputs)):
        for t in tensors:
            shape = "?" if t.shape is None else \
                "[" + ", ".join("?" if d is None else str(d) for d in t.shape) + "]"
            lines.append(f"  {label + ':':<9}{t.name} {t.dtype} {shape}")
    lines += [f"  {key}: {value}" for key, value in info.details.items()]
    if info.training_state:
        parts = "; ".join(f"{name} under {', '.join(p['keys'])}: {p['tensors']} tensors, "
                          f"{format_bytes(p['bytes'])}"
                          for name, p in info.training_state["parts"].items())
        lines.append(f"  training state (not counted in params): {parts}")
    lines.append("  safety:  WARNING: contains code that runs when it is loaded" if info.contains_code
                 else "  safety:  no embedded code found (unsafe files are refused with DG203)")
    return terminal_lines(lines)


def render_finding(f: Finding) -> str:
    """One finding on one line: ``file:line:col: severity: DG### name: key: message``."""
    return str(f)


def render(report: Report, *, color: bool = False) -> str:
    """The report as plain text: one block per model, then every finding, then the verdict.

    ``color`` paints verdicts and findings by severity (ANSI); the caller decides, from the
    terminal and ``NO_COLOR``. The words stay the same, so nothing depends on the colour.
    """
    lines: list[str] = []
    # Line index -> (colour, how many leading characters); painted after escaping, so the
    # escape sequences are ours alone.
    paint: dict[int, tuple[str, int | None]] = {}
    for m in report.models:
        paint[len(lines)] = ("green", 4) if m.passed else ("red", 4)
        lines.extend(model_lines(m))
    findings = report.all_findings
    if findings:
        if lines:
            lines.append("")
        for f in findings:
            paint[len(lines)] = (_COLORS[f.severity], None)
            lines.append(render_finding(f))
    failed = sum(not m.passed for m in report.models)
    checked = len(report.models)
    verdict = "passed" if report.passed else "FAILED"
    lines.append("")
    paint[len(lines)] = ("green", None) if report.passed else ("red", None)
    lines.append(f"deploygate {verdict}: {checked} model{'s' * (checked != 1)} checked, "
                 f"{checked - failed} passed, {failed} failed (exit {report.exit_code})")
    if not color:
        return terminal_lines(lines)
    escaped = terminal_lines(lines).splitlines()
    return "".join((_paint(line, *paint[i]) if i in paint else line) + "\n"
                   for i, line in enumerate(escaped))


def _estimated(lat: LatencyResult, percentile: str) -> str:
    """`` (estimated: ...)`` when too few runs lie above ``percentile`` to measure it."""
    if percentile not in lat.estimated_percentiles:
        return ""
    return f" (estimated: {lat.runs} runs leave too few above {percentile})"


def render_probe(path: str, result: LatencyResult, percentile: str, budget_ms: float | None,
                 verdict: str | None, on_inconclusive: str = "warn", *,
                 llm_verdicts: tuple[str | None, str | None] = (None, None),
                 llm_limits: tuple[float | None, float | None] = (None, None)) -> str:
    """`deploygate probe` as text: runs, percentiles, setup time and the verdicts."""
    shapes = ", ".join(f"{k} {v}" for k, v in result.input_shapes.items())
    providers = f" ({', '.join(result.providers)})" if result.providers else ""
    unit = " decoded tokens" if result.ttft is not None else " runs"
    lines = [f"{path}: {result.runs}{unit}, {result.describe_threads()}, "
             f"{result.runtime} {result.runtime_version}{providers} on {result.host_cpu}",
             f"  inputs: {shapes}"]
    lines += assumed_lines(result, "  ", flags=True)
    lines += ["  " + "  ".join(f"{p} {result.at(p):.3f} ms"
                              + ("*" if p in result.estimated_percentiles else "")
                              for p in PERCENTILES)
              + (f"  (* estimated: {result.runs} runs leave too few above it)"
                 if result.estimated_percentiles else ""),
             f"  mean {result.mean_ms:.3f} ms  min {result.min_ms:.3f} ms  "
             f"max {result.max_ms:.3f} ms  stdev {result.stdev_ms:.3f} ms",
             f"  setup (not counted): session {result.session_ms:.0f} ms, "
             f"process and inputs {result.overhead_ms:.0f} ms"]
    if result.ttft is not None:
        ttft = result.ttft
        lines += [f"  time to first token ({result.prompt_tokens} prompt tokens, {ttft.runs} "
                  "generations): " + "  ".join(f"{p} {ttft.at(p):.3f} ms"
                                               for p in PERCENTILES),
                  f"  decode rate over {result.new_tokens} tokens: "
                  f"{result.tokens_per_s or 0:.1f} tokens/s (generations "
                  f"{min(result.tokens_per_s_runs):.1f}-{max(result.tokens_per_s_runs):.1f})"]
        (ttft_verdict, rate_verdict), (ttft_ms, minimum) = llm_verdicts, llm_limits
        if ttft_verdict and ttft_ms is not None:
            lines.append(f"  {percentile} time to first token vs budget {ttft_ms:g} ms: "
                         f"{ttft_verdict}")
        if rate_verdict and minimum is not None:
            lines.append(f"  decode rate vs minimum {minimum:g} tokens/s: {rate_verdict}")
    if verdict and budget_ms is not None:
        low, high = result.interval_ms.get(percentile, (result.min_ms, result.max_ms))
        lines.append(f"  {percentile} {result.confidence:.0%} interval {low:.3f}-{high:.3f} ms "
                     f"({result.rounds} measuring round{'s' * (result.rounds != 1)})")
        if verdict == "inconclusive":
            verdict = ("inconclusive: the budget lies inside the interval; " +
                       ("counted as a failure (--on-inconclusive fail)"
                        if on_inconclusive == "fail" else
                        "NOT JUDGED, exit 0 (--on-inconclusive fail makes it exit 1)"))
        lines.append(f"  {percentile} vs budget {budget_ms:g} ms: {verdict}")
    return terminal_lines(lines)


def render_advice(report: AdviceReport) -> str:
    """`deploygate advise`: a readable table per model: rank, device, memory, latency band,
    cost, verdict."""
    lines: list[str] = [str(f) for f in report.findings]
    for m in report.models:
        spec = m.spec
        budget = (f"budget {spec.latency.budget_ms:g} ms {spec.latency.percentile}"
                  if spec.latency and spec.latency.budget_ms is not None else "no latency budget")
        ceiling = f"${spec.cost.max_usd_per_1k:g}/1k" if spec.cost else "no cost ceiling"
        lines.append(f"{spec.name}  ({spec.target.kind}; {budget}; {ceiling})")
        if m.error:
            lines.extend([f"  cannot advise: {m.error}", ""])
            continue
        assert m.memory is not None
        lines.append(f"  needs ~{format_bytes(m.memory.total)} ({m.memory.breakdown()})")
        lines.append(f"  latency: {m.calibration}")
        lines.extend(f"  note: {n}" for n in m.notes)
        width = max([len("device"), *(len(d.device.id) for d in m.devices)]) + 2
        lines.append(f"  {'#':>2}  {'device':<{width}}{'kind':<7}{'memory':>10}  "
                     f"{'latency ms (band)':<26}{'$/1k':>10}  verdict")
        for i, d in enumerate(m.devices, 1):
            est = (f"{d.estimate.ms:.3g} ({d.estimate.low_ms:.3g}-{d.estimate.high_ms:.3g})"
                   if d.estimate else "-")
            usd = f"{d.usd_per_1k:.4g}" if d.usd_per_1k is not None else "-"
            lines.append(f"  {i:>2}  {d.device.id:<{width}}{d.device.kind:<7}"
                         f"{format_bytes(d.device.memory):>10}  {est:<26}{usd:>10}  {_advice_verdict(d)}")
        lines.append("")
    while lines and not lines[-1]:
        lines.pop()
    return terminal_lines(lines)


def _advice_verdict(d: DeviceAdvice) -> str:
    if d.meets_all:
        return "meets all" + (" (latency band straddles the budget)" if d.latency == "inconclusive"
                              else "")
    why = []
    if not d.fits:
        why.append("does not fit")
    if not d.kind_matches:
        why.append(f"{d.device.kind}, not the target kind")
    if d.latency in ("fail", "unknown") or (d.latency == "inconclusive" and not d.within_budget):
        why.append(f"latency {d.latency}")
    if d.cost in ("fail", "unknown"):
        why.append(f"cost {d.cost}")
    return "; ".join(why)


def render_devices(devices: list[Device]) -> str:
    """`deploygate devices`: one line per device, with its runtime paths and their peaks."""
    lines = [f"{'id':<24}{'kind':<7}{'memory':>10}{'bandwidth':>13}{'$/hour':>9}  "
             "runtime paths (* usual): peak operations/s"]
    for d in devices:
        bw = f"{d.memory_bandwidth / 1e9:g} GB/s" if d.memory_bandwidth else "-"
        price = f"{d.price_per_hour:.3f}" if d.price_per_hour is not None else "-"
        paths = "; ".join(
            f"{runtime}{'*' if runtime == d.runtime else ''} "
            + ", ".join(f"{precision} {peak / 1e12:g}T" for precision, peak in by.items())
            for runtime, by in d.paths.items()) or "-"
        lines.append(f"{d.id:<24}{d.kind:<7}{format_bytes(d.memory):>10}{bw:>13}{price:>9}  {paths}")
    lines.append("Sources of every figure: deploygate devices --format json (sources).")
    return "\n".join(lines) + "\n"
