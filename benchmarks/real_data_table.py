"""The README's real-data table: the calibrated request model against held-out production counts.

    python benchmarks/real_data_table.py            # Markdown table on stdout, timing on stderr

For each production request series in ``../shared/real-metrics`` (loaders and the
comparison: ``tests/realdata.py``, the same code ``tests/test_real_data.py`` runs):
``fit_requests`` on the first 65%, 1,000 simulated replicates of the held-out rest,
and the held-out dispersion index and autocorrelations at lags 1-10 (after a
centred ~1-hour rolling mean) against the replicates' joint 99% band; then the fit
report's day-to-day check of each first part against 20 simulations of its fit. It
asserts nothing.
"""
from __future__ import annotations

import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _script import answer_help  # noqa: E402  (beside this script)

from tests import realdata  # noqa: E402


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "inf"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 0.0)):
        if seconds >= size:
            value = seconds / size if size else seconds
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.2g} {unit}"
    return f"{seconds:.2g} s"


def step(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def interval(estimate, fmt) -> str:
    if estimate.fallback:
        return f"{fmt(estimate.value)} (default: {estimate.note.split(':')[0].split('(')[0].strip()})"
    return f"{fmt(estimate.value)} [{fmt(estimate.low)}, {fmt(estimate.high)}]"


def number(x: float) -> str:
    return f"{x:.3g}"


def band(c: realdata.Comparison, i: int, fmt) -> str:
    return f"{fmt(c.observed[i])} [{fmt(c.low[i])}, {fmt(c.high[i])}]"


def verdict(c: realdata.Comparison) -> str:
    expected = c.series.name in realdata.MISFITS
    if c.inside:
        return "inside" + (" (XPASS: drop it from MISFITS)" if expected else "")
    names = [s.split(" ")[0] for s in c.outside]
    shown = ", ".join(names) if len(names) <= 3 else f"{names[0]} … {names[-1]} ({len(names)} of 11)"
    return f"outside: {shown}" + (" (xfail)" if expected else " (NOT in MISFITS)")


def row(c: realdata.Comparison, point: realdata.Comparison) -> str:
    s, fit = c.series, c.latent
    k = s.compare_ticks
    first, held = c.first_ticks * s.dt, c.held_ticks * s.dt
    step_text = step(s.compare_step) + (f" (fit at {step(s.dt)})" if k > 1 else "")
    bursts = fit.bursts
    acf = lambda x: f"{x:.2f}"  # noqa: E731
    cells = [
        s.name, step_text, f"{duration(first)} / {duration(held)}",
        interval(fit.sd, lambda x: f"{x:.3f}"),
        interval(fit.correlation_time, duration),
        interval(fit.jitter, lambda x: f"{x:.3f}"),
        f"{bursts.per_day.value:.3g} ({bursts.count})",
        "not read" if fit.day_spread is None or fit.day_spread.fallback
        else interval(fit.day_spread, lambda x: f"{x:.2f}"),
        f"{c.level_ratio:.2f}" if math.isfinite(c.level_ratio) else "fit not positive",
        band(c, 0, number), band(c, 1, acf), band(c, realdata.LAGS, acf),
        verdict(c), "inside" if point.inside else "outside",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    start = time.perf_counter()
    header = ["series", "step", "first part / held out", "sd [95%]", "correlation time [95%]", "jitter [95%]",
              "bursts/day (n)", "day spread [95%]",
              "level", "D held-out [99% band]", "acf1 [band]", "acf10 [band]", "verdict",
              "at point estimates"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    timings, days = [], []
    for name in realdata.SERIES:
        t0 = time.perf_counter()
        series = realdata.load(name)
        c = realdata.compare(series)
        point = realdata.compare(series, uncertainty=False)
        timings.append((name, time.perf_counter() - t0))
        days.append((name, c.days.summary()))
        print(row(c, point), flush=True)
    print()
    print(f"Calibrated on the first {realdata.FIRST_PART:.0%} of each series, {realdata.REPLICATES} simulated "
          f"replicates of the held-out rest, each with its own parameters drawn from the fitted intervals. "
          f"Bands: joint {realdata.LEVEL:.0%} over the 11 statistics (D, acf1..acf10; max-|z| on log D and "
          f"atanh acf). \"level\": held-out mean over the fitted load's (the simulation is scaled by it). "
          f"\"at point estimates\": the same check without the parameters' sampling error.")
    print()
    for name, reason in realdata.MISFITS.items():
        print(f"- {name} (xfail): {reason}")
    print(f"\nDay to day, each first part against {realdata.DAY_REPLICATES} simulations of its fit, pooled:\n")
    for name, summary in days:
        print(f"- {name}: {summary}")
    total = time.perf_counter() - start
    print("\n" + ", ".join(f"{n} {t:.1f}s" for n, t in timings) + f"; total {total:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    answer_help(__doc__)
    main()
