"""Reading LoadGen's logs: ``mlperf_log_detail.txt`` into ``loadgen.*`` metrics, the figure MLPerf
reports for each scenario, and every validity criterion a run failed (LoadGen's own ``result_invalid_reason``
is only its advice, often empty). No LoadGen import: a bundle's logs are read without it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

#: the detail-log key MLPerf's submission checker reads as each scenario's result (its RESULT_FIELD_NEW,
#: v5.0 on), with the unit we show it in and how to scale it there
REPORTED = {
    "SingleStream": ("early_stopping_latency_ss", "early-stopping p90 latency", "ms", 1e-6),
    "MultiStream": ("early_stopping_latency_ms", "early-stopping p99 latency", "ms", 1e-6),
    "Server": ("result_completed_samples_per_sec", "completed samples/s", "samples/s", 1.0),
    "Offline": ("result_samples_per_second", "samples/s", "samples/s", 1.0),
}


def parse_detail(path: Path) -> dict[str, Any]:
    """``:::MLLOG {json}`` lines of mlperf_log_detail.txt -> key: value (the last one wins), and every
    runtime error LoadGen logged (``error_runtime``: "Max test duration reached", ...) under ``errors``."""
    out: dict[str, Any] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith(":::MLLOG"):
            try:
                rec = json.loads(line[len(":::MLLOG") :])
            except ValueError:
                continue
            key = str(rec.get("key"))
            out[key] = rec.get("value")
            if key.startswith("error") or rec.get("metadata", {}).get("is_error"):  # every one, not the last
                out.setdefault("errors", []).append(str(rec.get("value")))
    return out


def parse_accuracy(path: Path, n: int) -> np.ndarray:
    """Predicted class per QSL index from mlperf_log_accuracy.json (int32 little-endian payloads)."""
    preds = np.full(n, -1, dtype=np.int64)
    for rec in json.loads(Path(path).read_text() or "[]"):
        data = bytes.fromhex(rec.get("data", ""))
        if len(data) >= 4:
            preds[int(rec["qsl_idx"])] = int.from_bytes(data[:4], "little", signed=True)
    return preds


def parse_outputs(path: Path, n: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each QSL index's raw outputs (float32 payloads of ``shape``) from mlperf_log_accuracy.json, and
    which were answered (the rest are zeros)."""
    out = np.zeros((n, *shape), np.float32)
    answered = np.zeros(n, bool)
    width = int(np.prod(shape)) * 4
    for rec in json.loads(Path(path).read_text() or "[]"):
        data = bytes.fromhex(rec.get("data", ""))
        if len(data) == width:
            i = int(rec["qsl_idx"])
            out[i] = np.frombuffer(data, dtype="<f4").reshape(shape)
            answered[i] = True
    return out, answered


_SAMPLE = re.compile(r'"name":"Sample".*?"ph":"b".*?"query_seq":(\d+).*?"complete_ns":(\d+)')


def parse_trace(path: Path) -> list[int]:
    """LoadGen's own latency of each query, in issue order, from mlperf_log_trace.json: a query's latency
    is its last sample's ``complete_ns`` (from when LoadGen scheduled the query, as its percentiles count).
    Read line by line with a pattern: LoadGen's trace is not strict JSON."""
    per_query: dict[int, int] = {}
    with Path(path).open(errors="replace") as f:
        for line in f:
            m = _SAMPLE.search(line)
            if m:
                q, ns = int(m.group(1)), int(m.group(2))
                per_query[q] = max(ns, per_query.get(q, 0))
    return [per_query[q] for q in sorted(per_query)]


def _ms(ns: Any) -> str:
    return f"{float(ns) / 1e6:.4g} ms"


def _bullets(text: Any) -> str:
    """LoadGen's ``* a * b`` early-stopping text as one sentence."""
    parts = [p.strip().rstrip(".") for p in str(text).replace("\n", " ").split("*") if p.strip()]
    return "; ".join(re.sub(r"\s+", " ", p) for p in parts)


def _latency_at(detail: dict[str, Any], pct: float) -> Any:
    q = f"{pct * 100:.2f}"
    return detail.get(f"result_{q}_percentile_per_query_latency_ns", detail.get(f"result_{q}_percentile_latency_ns"))


def failed_criteria(detail: dict[str, Any]) -> list[tuple[str, str]]:
    """(criterion, why) for each validity criterion the run did not meet, with LoadGen's numbers."""
    out: list[tuple[str, str]] = []
    if detail.get("result_min_duration_met") is False:
        out.append(
            ("min_duration", f"min duration: the run was shorter than {detail.get('effective_min_duration_ms')} ms")
        )
    if detail.get("result_min_queries_met") is False:
        out.append(
            (
                "min_queries",
                f"min queries: {detail.get('result_query_count')} queries, "
                f"{detail.get('effective_min_query_count')} required",
            )
        )
    if detail.get("result_perf_constraints_met") is False and detail.get("requested_use_token_latencies"):
        out.append(("latency_constraint", _token_constraints(detail)))
    elif detail.get("result_perf_constraints_met") is False:
        pct = float(detail.get("effective_target_latency_percentile") or 0.99)
        bound, seen = detail.get("effective_target_latency_ns"), _latency_at(detail, pct)
        over = detail.get("result_overlatency_query_count")
        why = f"latency constraint: p{pct * 100:g} {_ms(seen) if seen is not None else 'n/a'}"
        why += f" over the {_ms(bound)} bound" if bound else " over the bound"
        if over is not None:
            why += f" ({over} of {detail.get('result_query_count')} queries over it)"
        out.append(("latency_constraint", why))
    if detail.get("early_stopping_met") is False:
        said = detail.get("early_stopping_result") or " ".join(
            f"{k.upper()}: {_bullets(detail.get(f'early_stopping_{k}_result'))}"
            for k in ("ttft", "tpot")
            if detail.get(f"early_stopping_{k}_result")
        )
        out.append(("early_stopping", "early stopping: " + (_bullets(said) or "not met")))
    return out


def _token_constraints(detail: dict[str, Any]) -> str:
    """Token-latency mode's constraints (MLPerf's LLM Server rules): TTFT and TPOT at the 99th percentile."""
    parts = []
    for what, key, bound in (
        ("TTFT", "result_first_token_99.00_percentile_latency_ns", "requested_server_ttft_latency"),
        ("TPOT", "result_time_per_output_token_99.00_percentile_ns", "requested_server_tpot_latency"),
    ):
        seen, limit = detail.get(key), detail.get(bound)
        if isinstance(seen, (int, float)) and isinstance(limit, (int, float)):
            parts.append(f"{what} p99 {_ms(seen)} {'over' if seen > limit else 'within'} the {_ms(limit)} bound")
    return "token latency constraints: " + ("; ".join(parts) or "not met")


def invalid_reason(detail: dict[str, Any]) -> str | None:
    """Every failed criterion, then LoadGen's advice; None for a VALID run."""
    if detail.get("result_validity") != "INVALID":
        return None
    parts = [why for _, why in failed_criteria(detail)]
    advice = str(detail.get("result_invalid_reason") or "").strip()
    if advice:
        parts.append(f"LoadGen advises: {advice}")
    errors = list(dict.fromkeys(detail.get("errors") or []))
    if errors:
        parts.append("LoadGen logged: " + "; ".join(errors))
    return "; ".join(parts) or "INVALID, with no criterion named in mlperf_log_detail.txt"


def reported(detail: dict[str, Any], scenario: str) -> dict[str, Any]:
    """The figure MLPerf reports for the scenario (early-stopping percentiles are 0 when too few queries ran)."""
    key, what, unit, scale = REPORTED.get(scenario, (None, "", "", 1.0))
    value = detail.get(key) if key else None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        return {}
    v = float(value) * scale
    shown = f"{v:.4g} ms" if unit == "ms" else f"{v:.0f} samples/s"
    return {
        "loadgen.mlperf_value": v,
        "loadgen.mlperf_unit": unit,
        "loadgen.mlperf_metric": what,
        "loadgen.mlperf": shown if what == unit else f"{shown} ({what})",
    }


def _percentiles(detail: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for q, name in (("50.00", "p50"), ("90.00", "p90"), ("99.00", "p99"), ("99.90", "p99_9")):
        for key in (f"result_{q}_percentile_per_query_latency_ns", f"result_{q}_percentile_latency_ns"):
            if key in detail:
                out[f"loadgen.{name}_ms"] = detail[key] / 1e6
                break
    for stat in ("mean", "min", "max"):
        for key in (f"result_{stat}_query_latency_ns", f"result_{stat}_latency_ns"):
            if key in detail:
                out[f"loadgen.{stat}_ms"] = detail[key] / 1e6
                break
    return out


def _early_stopping(detail: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, name in (("early_stopping_latency_ss", "p90"), ("early_stopping_latency_ms", "p99")):
        value = detail.get(key)
        if isinstance(value, (int, float)) and value > 0:
            out[f"loadgen.early_stopping_{name}_ms"] = value / 1e6
    text = str(detail.get("early_stopping_result", ""))
    for pct, value in re.findall(r"Early stopping (\d+(?:\.\d+)?)th percentile estimate: (\d+)", text):
        out.setdefault(f"loadgen.early_stopping_p{pct.split('.')[0]}_ms", int(value) / 1e6)
    return out


def results(detail: dict[str, Any], scenario: str | None = None) -> dict[str, Any]:
    """The loadgen.* metrics of one performance run."""
    out: dict[str, Any] = {}
    validity = detail.get("result_validity")
    if validity is not None:
        out["loadgen.result"] = validity
        out["loadgen.valid"] = validity == "VALID"
    why = invalid_reason(detail)
    if why:
        out["loadgen.invalid_reason"] = why
        out["loadgen.failed"] = ", ".join(name for name, _ in failed_criteria(detail)) or "unnamed"
    out |= _percentiles(detail) | _early_stopping(detail)
    out |= reported(detail, str(scenario or detail.get("effective_scenario") or ""))
    for key in ("result_samples_per_second", "result_completed_samples_per_sec", "result_qps_with_loadgen_overhead"):
        if key in detail:
            out["loadgen.samples_per_s"] = float(detail[key])
            break
    if "result_scheduled_samples_per_sec" in detail:
        out["loadgen.server_scheduled_qps"] = float(detail["result_scheduled_samples_per_sec"])
    if "result_query_count" in detail:
        out["loadgen.queries"] = int(detail["result_query_count"])
    return out
