"""Benchmark: a real gate's error-ratio query over a simulated 4-hour run, at one instant and at every scrape.

Prints (asserts nothing) the time to evaluate
``sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))``
over 2 arms x 3 segments x 4 status codes of ``http_requests_total`` scraped every 15 s for
4 hours (built with numpy, 5xx series existing only from their first increment), against
the targets of issue 13: <= 50 us at one instant, <= 2 ms over all ~960 scrape times; then
the time per instant over many distinct instants (what a gate asks) and the first instant on
a new store (compiling the store and the query: a closed loop's next scrape).

    python benchmarks/bench_promql.py

Then the same ratio with Prometheus 3.7's ``anchored`` and ``smoothed`` range modifiers, at one
instant and at every scrape (no target: the targets are the plain form's).
"""
from __future__ import annotations

import time

import numpy as np

from _script import answer_help  # beside this script
from rampsim.promql import SeriesStore, evaluate, evaluate_range

QUERY = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'


def build_store(seed: int = 1) -> tuple[SeriesStore, np.ndarray]:
    rng = np.random.default_rng(seed)
    times = np.arange(0, 4 * 3600 + 1, 15.0)
    labels, rows = [], []
    for arm in ("baseline", "canary"):
        for segment in ("A", "B", "C"):
            for code, share in (("200", 0.97), ("404", 0.029), ("500", 0.0007), ("503", 0.0003)):
                per_scrape = rng.poisson(1250 * 15 * share, size=len(times))
                counter = np.cumsum(per_scrape).astype(float)
                counter[counter == 0] = np.nan          # the series exists from its first increment
                labels.append({"__name__": "http_requests_total", "arm": arm, "segment": segment,
                               "code": code, "method": "GET"})
                rows.append(counter)
    store = SeriesStore()
    store.add_grid(labels, times, np.array(rows))
    return store, times


def best_of(fn, repeat: int, number: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def main() -> None:
    store, times = build_store()
    t = float(times[len(times) // 2]) + 7.3           # off the scrape grid
    evaluate(QUERY, store, t)                          # parse, compile the store and the query
    instant = best_of(lambda: evaluate(QUERY, store, t), repeat=5, number=2000)
    evaluate_range(QUERY, store, times)
    vectorized = best_of(lambda: evaluate_range(QUERY, store, times), repeat=5, number=50)
    print(f"series: {len(store)}, samples per series: {len(times)}, query: {QUERY}")
    print(f"one instant (3.x):            {instant * 1e6:8.1f} us   (target <= 50 us)")
    print(f"all {len(times)} scrape times (3.x): {vectorized * 1e3:8.3f} ms   (target <= 2 ms)")
    instant2 = best_of(lambda: evaluate(QUERY, store, t, semantics=2), repeat=5, number=2000)
    print(f"one instant (2.x):            {instant2 * 1e6:8.1f} us")
    # Nothing is cached per evaluation time: a gate asks at every measurement time, each once.
    distinct = times[len(times) // 4:] + 7.3
    each = best_of(lambda: [evaluate(QUERY, store, float(x)) for x in distinct], repeat=3, number=1) / len(distinct)
    print(f"each of {len(distinct)} distinct instants (3.x): {each * 1e6:6.1f} us")
    fresh = []
    for _ in range(5):                                 # a new store (a closed loop's next scrape): nothing compiled
        new_store, _ = build_store()
        start = time.perf_counter()
        evaluate(QUERY, new_store, t)
        fresh.append(time.perf_counter() - start)
    print(f"first instant on a new store (3.x): {min(fresh) * 1e3:6.3f} ms   (compiles the store and the query)")
    one = np.ones(1)
    for modifier in ("anchored", "smoothed"):
        query = QUERY.replace("[1m]", f"[1m] {modifier}")
        evaluate(query, store, t)
        at_one = best_of(lambda: evaluate(query, store, t), repeat=5, number=500)
        evaluate_range(query, store, times)
        at_all = best_of(lambda: evaluate_range(query, store, times), repeat=3, number=20)
        print(f"with [1m] {modifier}: one instant {at_one * 1e6:8.1f} us, all {len(times)} scrape times "
              f"{at_all * 1e3:8.3f} ms")
    numpy_call = best_of(lambda: one + 1.0, repeat=5, number=20000)
    print(f"machine calibration: one numpy call on a 1-element array {numpy_call * 1e6:.2f} us "
          "(about 0.3-0.5 us on a typical recent laptop)")


if __name__ == "__main__":
    answer_help(__doc__)
    main()
