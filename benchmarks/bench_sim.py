"""Simulation benchmarks: fluid and request fidelities, and a naive per-request simpy model.

Run ``python benchmarks/bench_sim.py`` (one core is enough; nothing runs in parallel).
It prints plain figures; it asserts nothing. Measured:

1. fluid fidelity, the reference 4-hour ramp (scenarios/ramp-phase-50k.yaml), closed
   loop with the reference engine, and simulation alone (``engine_factory=None``):
   the first (cold) run, which builds and caches the 500,000-learner population, and
   the median of warm runs;
2. request fidelity: simulated requests per second of wall time on the 5,000-learner
   validation scenario;
3. a naive per-request simpy model of the reference ramp (all 12,500 requests/s, one
   process per request, Python's ``random`` and a hashed learner id per request, as a
   straightforward implementation would do), timed on a slice of simulated time and
   extrapolated to the 4 hours; the ratio to the fluid run is printed;
4. the cost of background variability: an open-loop fluid replicate of the reference plan
   (``engine_factory=None`` on a prepared scenario, as a sweep runs it) with ``variability: none``
   against the plan's shipped ``variability:`` section, interleaved in one run (ABBA order, the
   same seed for both in each pair), CPU time (``time.process_time``) and wall time, median of
   ``--replicates``; the ratio of the medians is printed (target: at most 1.30x). A second line
   draws the canary's latency histogram alone, as a sweep of the reference plan's gates does (they
   read no other); a third times the same without a prepared scenario (each run builds its scenario
   and latency table).
   ``--variability-only`` prints these three lines alone (a few seconds; for A/B runs of two checkouts:
   ``PYTHONPATH=CHECKOUT python benchmarks/bench_sim.py --variability-only`` from outside the checkout).
"""
from __future__ import annotations

import argparse
import bisect
import hashlib
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

import simpy

from rampsim.plan import load_plan, with_overrides
from rampsim.sim import Scenario, simulate

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "scenarios" / "ramp-phase-50k.yaml"
VALIDATION = ROOT / "scenarios" / "ramp-phase-5k-validation.yaml"
BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0,
           2.5, 5.0)


def timed(function, repeat: int) -> tuple[float, float]:
    """(first call, median of the next ``repeat`` calls) in seconds."""
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def naive_ramp(seconds: float, rate: float = 12_500.0, learners: int = 500_000, weight: float = 0.10,
               seed: int = 0) -> int:
    """A naive per-request model of the reference ramp for ``seconds``; returns the requests simulated."""
    env = simpy.Environment()
    rng = random.Random(seed)
    pools = [[simpy.Resource(env, capacity=8) for _ in range(n)] for n in (45, 5)]
    error_rates = (0.00065, 0.00072, 0.00085)
    counters: dict = defaultdict(float)
    served = [0]

    def request(learner: int):
        digest = hashlib.sha1(str(learner).encode()).digest()
        arm = 1 if int.from_bytes(digest[:4], "big") / 2**32 < weight else 0
        segment = digest[4] % 3
        worker = rng.choice(pools[arm])
        start = env.now
        with worker.request() as slot:
            yield slot
            hit = rng.random() < 0.85
            yield env.timeout(0.9 * ((0.004 + rng.expovariate(1 / 0.007)) if hit else
                                     (0.010 + rng.expovariate(1 / 0.014))))
        latency = env.now - start
        counters[("requests", arm, segment)] += 1
        counters[("errors", arm, segment)] += rng.random() < error_rates[segment]
        counters[("bucket", arm, segment, bisect.bisect_left(BUCKETS, latency))] += 1
        counters[("latency_sum", arm, segment)] += latency
        counters[("cache_hits" if hit else "cache_misses", arm)] += 1
        served[0] += 1

    def arrivals():
        while True:
            yield env.timeout(rng.expovariate(rate))
            env.process(request(rng.randrange(learners)))

    def scraper():
        while True:
            yield env.timeout(15)
            dict(counters)

    env.process(arrivals())
    env.process(scraper())
    env.run(until=seconds)
    return served[0]


def variability_cost(plan, replicates: int, prepared: bool = True,
                     histograms: tuple[str, ...] | None = None) -> dict[str, tuple[float, float]]:
    """Median (CPU, wall) seconds of an open-loop fluid replicate with ``variability: none`` and as shipped
    (drawing the latency histograms of the arms ``histograms`` only, as a sweep whose gates read only those).

    The two are interleaved (ABBA, the same seed for both in each pair) so that drift in the machine's
    speed hits both alike; both are warmed up first (population, latency tables of the scenario).
    """
    plans = {"none": with_overrides(plan, {"traffic.variability": "none"}), "shipped": plan}
    scenarios = {name: Scenario.build(p) for name, p in plans.items()}

    def replicate(name: str, seed: int) -> tuple[float, float]:
        scenario = scenarios[name] if prepared else None
        cpu, wall = time.process_time(), time.perf_counter()
        simulate(plans[name], seed=seed, engine_factory=None, scenario=scenario, histograms=histograms)
        return time.process_time() - cpu, time.perf_counter() - wall

    for name in plans:
        replicate(name, 0)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in plans}
    for seed in range(1, replicates + 1):
        order = ("none", "shipped") if seed % 2 else ("shipped", "none")
        for name in order:
            times[name].append(replicate(name, seed))
    return {name: (statistics.median(t[0] for t in values), statistics.median(t[1] for t in values))
            for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="warm runs per figure (median)")
    parser.add_argument("--naive-seconds", type=float, default=20.0, help="simulated seconds of the naive model")
    parser.add_argument("--replicates", type=int, default=41, help="interleaved pairs of the variability figure")
    parser.add_argument("--variability-only", action="store_true", help="print the variability figures (4.) alone")
    args = parser.parse_args()
    plan = load_plan(REFERENCE)
    if args.variability_only:
        print_variability_cost(plan, args.replicates)
        return
    cold, warm = timed(lambda: simulate(plan, seed=1), args.repeat)
    print(f"fluid, 4-hour reference ramp, engine included: cold {cold * 1000:.0f} ms, warm median {warm * 1000:.1f} ms")
    _, alone = timed(lambda: simulate(plan, seed=1, engine_factory=None), args.repeat)
    print(f"fluid, 4-hour reference ramp, simulation only (engine_factory=None): warm median {alone * 1000:.1f} ms")

    small = load_plan(VALIDATION)
    start = time.perf_counter()
    run = simulate(small, seed=1, fidelity="request")
    seconds = time.perf_counter() - start
    requests = run.requests.sum()
    print(f"request fidelity, 5,000 learners, 20 minutes: {requests:,.0f} requests in {seconds:.1f} s "
          f"= {requests / seconds:,.0f} requests/s")

    start = time.perf_counter()
    served = naive_ramp(args.naive_seconds)
    naive = time.perf_counter() - start
    extrapolated = naive * plan.duration / args.naive_seconds
    print(f"naive per-request simpy model of the reference ramp: {served:,} requests in {args.naive_seconds:g} "
          f"simulated s took {naive:.1f} s ({served / naive:,.0f} requests/s); extrapolated to 4 hours: "
          f"{extrapolated / 60:.0f} min")
    print(f"ratio naive (extrapolated) / fluid with engine: {extrapolated / warm:,.0f}x; "
          f"/ fluid simulation only: {extrapolated / alone:,.0f}x")

    print_variability_cost(plan, args.replicates)


def print_variability_cost(plan, replicates: int) -> None:
    """Print figure 4: the open-loop replicate's CPU and wall time without and with variability, and their ratio."""
    for prepared, histograms, label in (
            (True, None, "open-loop fluid replicate of the reference plan (prepared scenario, every histogram)"),
            (True, ("canary",), "the same drawing the canary's histogram alone (as a sweep of the reference "
                                "plan's gates, which read no other)"),
            (False, None, "the same, each run building its scenario (simulate(plan) alone)")):
        cost = variability_cost(plan, replicates, prepared, histograms)
        (cpu_none, wall_none), (cpu_shipped, wall_shipped) = cost["none"], cost["shipped"]
        print(f"{label}: variability none vs the shipped variability, median of {replicates} interleaved "
              f"pairs: CPU {cpu_none * 1000:.1f} ms vs {cpu_shipped * 1000:.1f} ms = {cpu_shipped / cpu_none:.2f}x, "
              f"wall {wall_none * 1000:.1f} ms vs {wall_shipped * 1000:.1f} ms = {wall_shipped / wall_none:.2f}x "
              f"(target at most 1.30x)")


if __name__ == "__main__":
    main()
