"""Range-vector functions other than rates: ``*_over_time``, ``deriv``, ``changes``, ``resets``.

Each takes windows ``[i0, i1)`` (shape ``(S, T)``) into the store's flat staleness-free
samples and returns ``(values, present)``; a window without samples has no result.
Transcribed from prometheus/prometheus ``promql/functions.go`` (``funcAvgOverTime``,
``funcSumOverTime``, ``funcMinOverTime``... ``funcDeriv`` with ``linearRegression``,
``funcChanges``, ``funcResets``), with its Kahan-Neumaier summation (``kahanSumInc``).
Counts, extremes and last values are vectorized; sums, means and regressions loop over
the windows in Go's order so that they round as Prometheus does.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from rampsim.promql.semantics import Semantics

__all__ = ["over_time", "over_time_one", "kahan_sum_inc", "OVER_TIME"]


def kahan_sum_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """Go's ``kahanSumInc``: one Kahan-Neumaier step, returning the new sum and compensation."""
    t = total + inc
    if math.isinf(t):
        c = 0.0
    elif abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def _sum(w: np.ndarray, semantics: Semantics) -> float:
    return _sum_list(w.tolist())


def _sum_list(vals: list[float]) -> float:
    total, c = 0.0, 0.0
    for f in vals:
        total, c = kahan_sum_inc(f, total, c)
    if math.isinf(total):
        return total
    return total + c


def _avg(w: np.ndarray, semantics: Semantics) -> float:
    return _avg_list(w.tolist())


def _avg_list(vals: list[float]) -> float:
    # funcAvgOverTime (2.55, 3.x): compensated direct mean while the sum does not overflow, then incremental.
    total, count = vals[0], 1.0
    mean, kc = 0.0, 0.0
    incremental = False
    for i, f in enumerate(vals[1:]):
        count = float(i + 2)
        if not incremental:
            new_sum, new_c = kahan_sum_inc(f, total, kc)
            if not math.isinf(new_sum):
                total, kc = new_sum, new_c
                continue
            incremental = True
            mean = total / (count - 1)
            kc /= (count - 1)
        q = (count - 1) / count
        mean, kc = kahan_sum_inc(f / count, q * mean, q * kc)
    if incremental:
        return mean + kc
    return total / count + kc / count


def _deriv(ts: np.ndarray, w: np.ndarray) -> float:
    """``funcDeriv``: the slope of Go's ``linearRegression`` (Kahan sums, x relative to the first sample)."""
    return _deriv_list(ts.tolist(), w.tolist())


def _deriv_list(times: list[int], vals: list[float]) -> float:
    if len(vals) < 2:
        return math.nan
    t0 = times[0]
    n = sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    init_y = vals[0]
    const_y = True
    for i, (t, f) in enumerate(zip(times, vals)):
        if const_y and i > 0 and f != init_y:
            const_y = False
        n += 1.0
        x = (t - t0) / 1e3
        sx, cx = kahan_sum_inc(x, sx, cx)
        sy, cy = kahan_sum_inc(f, sy, cy)
        sxy, cxy = kahan_sum_inc(x * f, sxy, cxy)
        sx2, cx2 = kahan_sum_inc(x * x, sx2, cx2)
    if const_y:
        return math.nan if math.isinf(init_y) else 0.0
    sx += cx
    sy += cy
    sxy += cxy
    sx2 += cx2
    cov = sxy - sx * sy / n
    var = sx2 - sx * sx / n
    try:
        return cov / var
    except ZeroDivisionError:
        return math.nan if cov == 0 or math.isnan(cov) else math.copysign(math.inf, cov)


def _loop(fn: Callable[[int, int], float], i0: np.ndarray, i1: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.full(i0.shape, np.nan)
    for k in np.flatnonzero(ok.ravel()):
        out.flat[k] = fn(int(i0.flat[k]), int(i1.flat[k]))
    return out


def _reduce(ufunc: np.ufunc, values: np.ndarray, i0: np.ndarray, i1: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.full(i0.shape, np.nan)
    if ok.any():
        starts = i0[ok]
        ends = i1[ok]
        # reduceat over [start, next start): interleave window starts and ends.
        idx = np.empty(2 * len(starts), dtype=np.int64)
        idx[0::2] = starts
        idx[1::2] = ends  # <= len(values) - 1: the arrays end with a NaN sentinel
        red = ufunc.reduceat(values, idx)[0::2]
        out[ok] = red
    return out


def over_time(name: str, times: np.ndarray, values: np.ndarray, reset_count: np.ndarray,
              change_count: np.ndarray, i0: np.ndarray, i1: np.ndarray,
              semantics: Semantics) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate the range function ``name`` (one of :data:`OVER_TIME`) over windows ``[i0, i1)``.

    The sample arrays end with one sentinel sample (see :func:`rampsim.promql.rate.extrapolated_rate`)."""
    n = i1 - i0
    ok = n >= 1
    last = i1 - 1          # the arrays end with a sentinel: -1 and len index safely
    first = i0
    if name == "count_over_time":
        return n.astype(np.float64), ok
    if name == "present_over_time":
        return np.ones(n.shape), ok
    if name == "last_over_time":
        return values[last], ok
    if name == "max_over_time":
        return _reduce(np.fmax, values, i0, i1, ok), ok
    if name == "min_over_time":
        return _reduce(np.fmin, values, i0, i1, ok), ok
    if name == "sum_over_time":
        return _loop(lambda a, b: _sum(values[a:b], semantics), i0, i1, ok), ok
    if name == "avg_over_time":
        return _loop(lambda a, b: _avg(values[a:b], semantics), i0, i1, ok), ok
    if name == "changes":
        return (change_count[last] - change_count[first]).astype(np.float64), ok
    if name == "resets":
        return (reset_count[last] - reset_count[first]).astype(np.float64), ok
    if name == "deriv":
        ok2 = n >= 2
        return _loop(lambda a, b: _deriv(times[a:b], values[a:b]), i0, i1, ok2), ok2
    raise KeyError(name)


OVER_TIME = frozenset({"count_over_time", "present_over_time", "last_over_time", "max_over_time",
                       "min_over_time", "sum_over_time", "avg_over_time", "changes", "resets", "deriv"})


def over_time_one(name: str, times: list[int], values: list[float], reset_count: list[int],
                  change_count: list[int], i0s: list[int], i1s: list[int],
                  semantics: Semantics) -> tuple[list[float], list[bool]] | None:
    """:func:`over_time` at one time over Python lists (an absent window's value is NaN).

    None for ``max_over_time``/``min_over_time``, which the caller evaluates with
    :func:`over_time` (numpy's ``fmax``/``fmin`` reduction) to round and sign zeros alike."""
    nan = math.nan
    if name in ("max_over_time", "min_over_time"):
        return None
    need = 2 if name == "deriv" else 1
    out: list[float] = []
    present: list[bool] = []
    for i0, i1 in zip(i0s, i1s):
        n = i1 - i0
        if n < need:
            out.append(nan)
            present.append(False)
            continue
        last = i1 - 1
        if name == "count_over_time":
            value = float(n)
        elif name == "present_over_time":
            value = 1.0
        elif name == "last_over_time":
            value = values[last]
        elif name == "sum_over_time":
            value = _sum_list(values[i0:i1])
        elif name == "avg_over_time":
            value = _avg_list(values[i0:i1])
        elif name == "changes":
            value = float(change_count[last] - change_count[i0])
        elif name == "resets":
            value = float(reset_count[last] - reset_count[i0])
        elif name == "deriv":
            value = _deriv_list(times[i0:i1], values[i0:i1])
        else:
            raise KeyError(name)
        out.append(value)
        present.append(True)
    return out, present
