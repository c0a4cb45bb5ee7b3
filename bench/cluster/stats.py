"""Pure statistics for the cluster benchmarks: schedule fits, percentiles, summaries.

Times are integer nanoseconds. Two ways to judge a keepalive sender:

* `grid_deviations`: against the best-fit absolute schedule `a + k*T`. Each
  send gets its tick number `k` (rounded from its offset to the first send at
  the nominal period, so a missed tick leaves a gap in `k` rather than
  shifting everything), then `a` and `T` are fitted by least squares over
  (k, t); the deviation of a send is |t - (a + k*T)|. This is the schedule
  hbeat keeps (absolute monotonic ticks), with the fitted `T` absorbing the
  small rate difference between the sender's clock and the capture's.
* `interval_deviations`: |interval - nominal| of consecutive sends, the
  schedule heartbeat 3.0.6 keeps (each send re-arms a relative timer).

No I/O; mypy --strict clean.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass


class StatsError(ValueError):
    """Input the statistics cannot work with (too few points, bad period)."""


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation between closest
    ranks (numpy's default 'linear' method)."""
    if not values:
        raise StatsError("percentile of no values")
    if not 0 <= p <= 100:
        raise StatsError(f"percentile must be within 0..100, not {p}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def mean(values: Sequence[float]) -> float:
    if not values:
        raise StatsError("mean of no values")
    return math.fsum(values) / len(values)


def stdev(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1)."""
    if len(values) < 2:
        raise StatsError(f"standard deviation needs 2 values, got {len(values)}")
    m = mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def tick_numbers(times_ns: Sequence[int], period_ns: int) -> list[int]:
    """Each send's tick number relative to the first, at the nominal period."""
    if period_ns <= 0:
        raise StatsError(f"period must be positive, not {period_ns} ns")
    if not times_ns:
        return []
    t0 = times_ns[0]
    ticks = [round((t - t0) / period_ns) for t in times_ns]
    for i in range(1, len(ticks)):
        if ticks[i] <= ticks[i - 1]:
            raise StatsError(
                f"sends {i} and {i + 1} fall on the same tick ({ticks[i]}) at a period of "
                f"{period_ns} ns: they are {times_ns[i] - times_ns[i - 1]} ns apart"
            )
    return ticks


def drop_extra_sends(times_ns: Sequence[int], period_ns: int) -> tuple[list[int], int]:
    """Remove sends off the periodic schedule (a status sent at once on a state
    change): of two sends on the same tick, keep the one whose distance to the
    previous kept send is nearer a whole number of periods. Returns (kept, dropped)."""
    if period_ns <= 0:
        raise StatsError(f"period must be positive, not {period_ns} ns")
    kept: list[int] = []
    dropped = 0
    for t in times_ns:
        if not kept:
            kept.append(t)
            continue
        if round((t - kept[0]) / period_ns) > round((kept[-1] - kept[0]) / period_ns):
            kept.append(t)
            continue
        dropped += 1
        if len(kept) >= 2:
            def off(x: int, ref: int = kept[-2]) -> float:
                q = (x - ref) / period_ns
                return abs(q - round(q))
            if off(t) < off(kept[-1]):
                kept[-1] = t
    return kept, dropped


@dataclass(frozen=True)
class GridFit:
    offset_ns: float  # a: time of tick 0, relative to the first send
    period_ns: float  # T
    ticks: tuple[int, ...]
    deviations_ns: tuple[float, ...]  # |t - (a + k*T)| per send
    missed: int  # ticks with no send between the first and the last


def grid_fit(times_ns: Sequence[int], nominal_period_ns: int) -> GridFit:
    """Least-squares fit of sends to `a + k*T` (see the module docstring)."""
    if len(times_ns) < 3:
        raise StatsError(f"a grid fit needs at least 3 sends, got {len(times_ns)}")
    ks = tick_numbers(times_ns, nominal_period_ns)
    t0 = times_ns[0]
    ys = [float(t - t0) for t in times_ns]
    n = len(ks)
    k_mean = math.fsum(ks) / n
    y_mean = math.fsum(ys) / n
    sxx = math.fsum((k - k_mean) ** 2 for k in ks)
    sxy = math.fsum((k - k_mean) * (y - y_mean) for k, y in zip(ks, ys, strict=True))
    period = sxy / sxx
    offset = y_mean - period * k_mean
    devs = tuple(abs(y - (offset + period * k)) for k, y in zip(ks, ys, strict=True))
    missed = ks[-1] - ks[0] + 1 - n
    return GridFit(offset, period, tuple(ks), devs, missed)


def intervals(times_ns: Sequence[int]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(times_ns)]


def interval_deviations(times_ns: Sequence[int], nominal_period_ns: int,
                        ticks: Sequence[int] | None = None) -> list[float]:
    """|interval - n*nominal| for consecutive sends, n = tick gap (1 without misses)."""
    ks = list(ticks) if ticks is not None else tick_numbers(times_ns, nominal_period_ns)
    out: list[float] = []
    for i in range(1, len(times_ns)):
        gap = ks[i] - ks[i - 1]
        out.append(float(abs(times_ns[i] - times_ns[i - 1] - gap * nominal_period_ns)))
    return out


@dataclass(frozen=True)
class JitterSummary:
    """Figures of one sender's keepalives, in milliseconds."""

    sends: int
    span_s: float
    missed: int
    mean_interval_ms: float
    stdev_interval_ms: float
    fitted_period_ms: float
    grid_p50_ms: float
    grid_p99_ms: float
    grid_max_ms: float
    interval_p50_ms: float
    interval_p99_ms: float
    interval_max_ms: float


def summarize_jitter(times_ns: Sequence[int], nominal_period_ns: int) -> JitterSummary:
    """Jitter figures of one sender (times in order; duplicates removed by the caller)."""
    fit = grid_fit(times_ns, nominal_period_ns)
    ivs = [
        iv for iv, gap in zip(intervals(times_ns), intervals(list(fit.ticks)), strict=True)
        if gap == 1
    ]
    if len(ivs) < 2:
        raise StatsError("fewer than 2 intervals without a missed tick")
    idev = interval_deviations(times_ns, nominal_period_ns, fit.ticks)
    ms = 1e-6
    return JitterSummary(
        sends=len(times_ns),
        span_s=(times_ns[-1] - times_ns[0]) / 1e9,
        missed=fit.missed,
        mean_interval_ms=mean(ivs) * ms,
        stdev_interval_ms=stdev(ivs) * ms,
        fitted_period_ms=fit.period_ns * ms,
        grid_p50_ms=percentile(fit.deviations_ns, 50) * ms,
        grid_p99_ms=percentile(fit.deviations_ns, 99) * ms,
        grid_max_ms=max(fit.deviations_ns) * ms,
        interval_p50_ms=percentile(idev, 50) * ms,
        interval_p99_ms=percentile(idev, 99) * ms,
        interval_max_ms=max(idev) * ms,
    )


@dataclass(frozen=True)
class LatencySummary:
    """Distribution of latencies (ms) over repetitions."""

    n: int
    min_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


def summarize_latencies(values_ms: Sequence[float]) -> LatencySummary:
    if not values_ms:
        raise StatsError("no latencies to summarize")
    return LatencySummary(
        n=len(values_ms),
        min_ms=min(values_ms),
        p50_ms=percentile(values_ms, 50),
        p99_ms=percentile(values_ms, 99),
        max_ms=max(values_ms),
        mean_ms=mean(values_ms),
    )


def ratio(ours: float, theirs: float) -> float | None:
    """theirs / ours (how many times better hbeat is); None when ours is 0."""
    return None if ours == 0 else theirs / ours
