"""Lines every leaderboard prints under a suite's table (terminal, Markdown, HTML): which latency the
p50/p99 columns show, and why each INVALID LoadGen run is INVALID. One source, so the three agree."""

from __future__ import annotations

from pytest_aibench.core.result import Result
from pytest_aibench.report.ranking import label


def _what(measure: str, batch: object) -> str:
    n = int(batch) if isinstance(batch, (int, float)) and not isinstance(batch, bool) else 1
    samples = f"{n} sample{'s' if n != 1 else ''}"
    if measure == "query":
        return f"LoadGen's per-query latency, its own percentiles (queries of {samples})"
    if measure == "token":
        return "one decode step, an output token (TPOT's samples; TTFT and TPOT per query beside)"
    if measure == "none":
        return "none (MLPerf offline measures throughput only; see the MLPerf result column)"
    return f"time per timed call of {samples}"


def measure_of(r: Result) -> str | None:
    """call, query, none, or None for an item without latency figures."""
    measure = r.metrics.get("latency.measure")
    if measure is None and r.metrics.get("latency.p50_ms") is not None:
        return "call"  # a run recorded before latency.measure existed
    return None if measure is None else str(measure)


def describe(r: Result) -> str | None:
    """What the item's latency figures time, in the words of the leaderboard's legend."""
    measure = measure_of(r)
    return None if measure is None else _what(measure, r.metrics.get("latency.batch"))


def throughput(r: Result) -> tuple[float, str] | None:
    """Samples per second and where it comes from: the batched accuracy pass, or LoadGen's run."""
    for key, source in (("throughput.ips", "batched accuracy pass"), ("loadgen.samples_per_s", "LoadGen samples/s")):
        v = r.metrics.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return float(v), source
    return None


def latency_legend(rs: list[Result]) -> str | None:
    """``latency (p50, p99): time per timed call of 1 sample (4 items); ...``, or None without latency."""
    groups: dict[str, int] = {}
    for r in rs:
        what = describe(r)
        if what is not None:
            groups[what] = groups.get(what, 0) + 1
    if not groups:
        return None
    return "latency (p50, p99): " + "; ".join(f"{what} ({n} item{'s' if n != 1 else ''})" for what, n in groups.items())


def invalid_runs(rs: list[Result]) -> list[tuple[str, str]]:
    """(item, every failed criterion) for each LoadGen run its own log calls INVALID."""
    return [
        (label(r), str(r.metrics.get("loadgen.invalid_reason") or "see its mlperf_log_summary.txt"))
        for r in rs
        if r.metrics.get("loadgen.valid") is False
    ]


def busy(r: Result) -> str | None:
    """The item's "host busy" flag (other processes took the CPU while it was timed), or None."""
    return next((f for f in r.flags if f.startswith("host busy")), None)


BUSY_MARK = "!"


def busy_summary(rs: list[Result]) -> str | None:
    """``host busy while timing 2 of 5 items`` for a run's header, or None on a quiet host."""
    n = sum(1 for r in rs if busy(r))
    return f"host busy while timing {n} of {len(rs)} item{'s' if len(rs) != 1 else ''}" if n else None


def busy_line(rs: list[Result]) -> str | None:
    """The footnote every leaderboard carries when an item was timed on a busy host."""
    worst = [b for b in (busy(r) for r in rs) if b]
    if not worst:
        return None
    return (
        f"{BUSY_MARK} host busy: other processes took the CPU while {len(worst)} item"
        f"{'s were' if len(worst) != 1 else ' was'} timed ({worst[0].split(': ', 1)[-1]}"
        f"{' ...' if len(worst) > 1 else ''}): their latencies are not comparable; measure again on a quiet host"
    )


def lines(rs: list[Result]) -> list[str]:
    out = [text for text in (latency_legend(rs), busy_line(rs)) if text]
    out += [f"LoadGen INVALID {item}: {why}" for item, why in invalid_runs(rs)]
    scaled = [r for r in rs if r.metrics.get("loadgen.official_settings") is False]
    if scaled:
        out.append(
            f"LoadGen: {len(scaled)} item{'s' if len(scaled) != 1 else ''} ran under scaled settings, not a "
            "valid MLPerf result (LoadGen's own durations, query counts and seeds: --aibench-profile mlperf)"
        )
    if any(k.startswith("sim.") for r in rs for k in r.metrics):
        errors = [r.metrics["sim.error_pct"] for r in rs if isinstance(r.metrics.get("sim.error_pct"), (int, float))]
        own = (
            f"; on the calibrated host its own error is {min(errors):+.0f} % to {max(errors):+.0f} % "
            f"(sim.error_pct, simulated vs measured latency, {len(errors)} items)"
            if errors
            else ""
        )
        out.append(
            "device figures (sim.*) are simulated by a roofline (each operator's counted FLOPs and bytes "
            "against the profile's peak per precision and bandwidth, at efficiencies calibrated on a host) "
            "and the profile's watts and price (each figure's source, or 'illustrative', is in the run "
            "JSON's topology), not measured on the devices" + own
        )
    return out
