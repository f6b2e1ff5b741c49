"""The tally of a sweep: every outcome counted per gate and scenario, instead of one row per run.

A :class:`Tally` holds, per (gate, scenario):

* ``outcomes``: runs counted by ground truth (:data:`TRUTHS`: healthy, incident, environment
  incident, and early: an incident stopped before the gate saw its fault), decision
  (:data:`~rampsim.engine.judge.KINDS`) and the source that decided it (the sweep's source names,
  then "none"). Every count of the summary and the breakdown is a sum of these: false rollbacks are
  stops of healthy runs, misses incident runs not stopped, early stops the early runs, and so on;
* ``harm`` and ``harm_squares``: the sums of the harmed requests and of their squares by ground
  truth (harm counts requests: whole numbers, summed exactly, the squares as Python integers);
* ``delays``: the detection delays of caught incidents as an exact sparse histogram (each distinct
  delay with its count). Decision times lie on the scrape grid, so a histogram holds a few hundred
  values per gate at most, whatever the number of runs, and quantiles and their order-statistic
  intervals computed from it equal those computed from the raw values (:func:`histogram_quantiles`).

Its size does not grow with the replicates: a sweep folds each chunk of runs into it
(:meth:`Tally.fold`, vectorized over the chunk's runs and gates) and drops the chunk. All of it is
exact integer arithmetic (counts, sums, histogram counts), so folding and merging
(:meth:`Tally.merge`) are associative and commutative: a tally is identical whatever the number of
workers or the order chunks finish in.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from rampsim.errors import DataUnavailable
from rampsim.engine.judge import KINDS
from rampsim.sim.truth import before_fault

if TYPE_CHECKING:
    from rampsim.experiment.chunks import Chunk

__all__ = ["Tally", "TRUTHS", "histogram_quantiles", "harm_interval", "stopped_kinds"]

TRUTHS = ("healthy", "incident", "environment", "early")
"""A run's ground truth: an incident the gate must stop, an environment incident reported on its own, else
healthy (see :mod:`rampsim.sim.truth`); and ``early``: an incident the gate stopped before it saw a request the
incident's first fault acted on (a false alarm on a release still healthy: neither a catch nor a miss)."""
HEALTHY, INCIDENT, ENVIRONMENT, EARLY = range(len(TRUTHS))
_FORMAT = 2   # format 1 had no ``early`` truth: read with none (its early stops counted as catches)
_STOPS = [KINDS.index("hold"), KINDS.index("rollback")]
_Delays = tuple[np.ndarray, np.ndarray, np.ndarray]  # cell, value, count; sorted by cell then value


def stopped_kinds() -> np.ndarray:
    """A mask over :data:`~rampsim.engine.judge.KINDS`: the decisions that stop a ramp (hold, rollback)."""
    mask = np.zeros(len(KINDS), bool)
    mask[_STOPS] = True
    return mask


@dataclass
class Tally:
    """A sweep's outcomes per gate and scenario (see the module docstring); arrays indexed
    ``[gate, scenario, truth, ...]``."""

    scenarios: tuple[str, ...]
    sources: tuple[str, ...]
    outcomes: np.ndarray        # int64 (gates, scenarios, truths, kinds, sources + 1); the last source: none
    harm: np.ndarray            # int64 (gates, scenarios, truths)
    harm_squares: np.ndarray    # object: Python ints (gates, scenarios, truths)
    _delays: list[_Delays] = field(default_factory=list, repr=False)  # parts, merged when read

    @classmethod
    def empty(cls, gates: int, scenarios: Sequence[str], sources: Sequence[str]) -> "Tally":
        shape = (gates, len(scenarios), len(TRUTHS))
        return cls(tuple(scenarios), tuple(sources), np.zeros((*shape, len(KINDS), len(sources) + 1), np.int64),
                   np.zeros(shape, np.int64), np.zeros(shape, np.int64).astype(object))

    @property
    def gates(self) -> int:
        return int(self.outcomes.shape[0])

    # -- folding ---------------------------------------------------------------------------

    def fold(self, chunk: "Chunk") -> None:
        """Add a chunk's runs (every gate on each of its replicates) to the tally."""
        replicates, gates = chunk.kind.shape
        truth = _truth(chunk.incident, chunk.environment)
        self._add(gate=np.tile(np.arange(gates), replicates), scenario=np.full(replicates * gates, chunk.scenario),
                  truth=np.repeat(truth, gates), kind=chunk.kind.reshape(-1), source=chunk.source.reshape(-1),
                  harmed=chunk.harmed.reshape(-1), time=chunk.time.reshape(-1),
                  incident_start=np.repeat(chunk.incident_start, gates), onset=np.repeat(chunk.onset, gates))

    @classmethod
    def of_runs(cls, runs: pd.DataFrame, gates: int, scenarios: Sequence[str], sources: Sequence[str]) -> "Tally":
        """The tally of a table of runs (``SweepResult.runs``' columns); ``ValueError`` on a scenario, source,
        decision or gate outside those given, or harm that is not a whole number of requests."""
        tally = cls.empty(gates, scenarios, sources)
        kind = pd.Index(KINDS).get_indexer(pd.Index(runs["decision"]))
        scenario = pd.Index(scenarios).get_indexer(pd.Index(runs["scenario"]))
        source = pd.Index([*sources, ""]).get_indexer(pd.Index(runs["source"].fillna("")))
        gate = runs["gate"].to_numpy(np.int64)
        if (kind < 0).any() or (scenario < 0).any() or (source < 0).any() or ((gate < 0) | (gate >= gates)).any():
            raise ValueError("a run's decision, scenario, source or gate is not one of the sweep's")
        tally._add(gate=gate, scenario=scenario, truth=_truth(runs["incident"].to_numpy(bool),
                                                            runs["environment"].to_numpy(bool)),
                   kind=kind, source=source,
                   harmed=runs["harmed"].to_numpy(float), time=runs["decision_time"].to_numpy(float),
                   incident_start=runs["incident_start"].to_numpy(float),
                   onset=runs["fault_start"].to_numpy(float) if "fault_start" in runs else np.full(len(runs), np.nan))
        return tally

    def _add(self, *, gate: np.ndarray, scenario: np.ndarray, truth: np.ndarray, kind: np.ndarray,
             source: np.ndarray, harmed: np.ndarray, time: np.ndarray, incident_start: np.ndarray,
             onset: np.ndarray) -> None:
        """Count runs given as flat arrays (one element per gate and replicate); ``source`` -1 or
        ``len(sources)``: none. A stop of an incident before the gate saw a request its first fault acted on
        (at ``onset`` or before) is counted apart (:data:`TRUTHS` ``early``), never as a catch."""
        harmed = np.asarray(harmed, float)
        if not np.array_equal(harmed, np.rint(harmed)) or (harmed < 0).any():
            raise ValueError("harm must count requests (whole numbers, zero or more)")
        whole = harmed.astype(np.int64)
        source = np.where(source < 0, self.outcomes.shape[-1] - 1, source)
        early = stopped_kinds()[kind] & before_fault(time, onset) & (truth == INCIDENT)   # NaN onset: never
        truth = np.where(early, EARLY, truth)
        np.add.at(self.outcomes, (gate, scenario, truth, kind, source), 1)
        np.add.at(self.harm, (gate, scenario, truth), whole)
        np.add.at(self.harm_squares, (gate, scenario, truth), whole.astype(object) ** 2)
        caught = (truth == INCIDENT) & stopped_kinds()[kind]
        if caught.any():
            cell = gate[caught] * len(self.scenarios) + scenario[caught]
            self._delays.append(_histogram(cell, time[caught] - incident_start[caught],
                                           np.ones(int(caught.sum()), np.int64)))
            if sum(len(part[0]) for part in self._delays[1:]) > len(self._delays[0][0]) + 4096:
                self._delays = [self.delays]  # compacted as it grows: amortized, whatever the number of chunks

    def merge(self, other: "Tally") -> "Tally":
        """The tally of both sweeps' runs (same gates, scenarios and sources); associative and commutative."""
        if (self.scenarios, self.sources, self.outcomes.shape) != (other.scenarios, other.sources,
                                                                     other.outcomes.shape):
            raise ValueError("tallies of different gates, scenarios or sources cannot be merged")
        return Tally(self.scenarios, self.sources, self.outcomes + other.outcomes, self.harm + other.harm,
                     self.harm_squares + other.harm_squares, [self.delays, other.delays])

    def equals(self, other: "Tally") -> bool:
        """The same counts, sums and histograms."""
        return (self.scenarios == other.scenarios and self.sources == other.sources
                and all(np.array_equal(a, b) for a, b in ((self.outcomes, other.outcomes), (self.harm, other.harm),
                                                          (self.harm_squares, other.harm_squares),
                                                          *zip(self.delays, other.delays))))

    # -- reading -----------------------------------------------------------------------------

    @property
    def delays(self) -> _Delays:
        """The detection delays as a sparse histogram: ``cell`` (``gate * len(scenarios) + scenario``), ``value``
        (seconds) and ``count``, sorted by cell and value, each (cell, value) once."""
        if len(self._delays) != 1:
            parts = self._delays or [(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64))]
            self._delays = [_histogram(*(np.concatenate(column) for column in zip(*parts)))]
        return self._delays[0]

    def gate_delays(self) -> _Delays:
        """The detection delays of each gate over all scenarios: the histogram of :attr:`delays` with ``cell``
        the gate."""
        cell, value, count = self.delays
        return _histogram(cell // len(self.scenarios), value, count)

    def counts(self, by_scenario: bool = True) -> pd.DataFrame:
        """Per gate and scenario (every pair, including scenarios without runs), or per gate (``by_scenario``
        false): ``runs``, ``healthy_runs``, ``incident_runs`` (early stops included), ``faced_incidents`` (the
        incident runs the gate was still judging when their fault acted: caught or missed), ``environment_runs``,
        ``stops``, ``false_rollbacks`` (stops of healthy runs), ``caught`` (stops of incident runs once the gate
        saw the fault), ``early_stops`` (stops of incident runs before it did), ``missed_incidents`` (incident
        runs not stopped: advanced or never decided), ``environment_stops``, ``harm`` and ``harm_squares``
        (Python ints) of incident runs, and ``cost_harm`` (harm of every run but environment incidents)."""
        by_truth = self.outcomes.sum(axis=-1)                       # (gates, scenarios, truths, kinds)
        runs = by_truth.sum(axis=-1)                                 # (gates, scenarios, truths)
        stops = by_truth[..., stopped_kinds()].sum(axis=-1)
        harm, squares = self.harm, self.harm_squares
        keys: dict[str, np.ndarray] = {"gate": np.arange(self.gates)}
        if by_scenario:
            gates, scenarios = np.indices(runs.shape[:2])
            keys = {"gate": gates.ravel(), "scenario": np.array(self.scenarios, dtype=object)[scenarios.ravel()]}
        else:
            runs, stops, harm, squares = (a.sum(axis=1, keepdims=True) for a in (runs, stops, harm, squares))
        return pd.DataFrame({
            **keys, "runs": runs.sum(axis=-1).ravel(), "healthy_runs": runs[..., HEALTHY].ravel(),
            "incident_runs": (runs[..., INCIDENT] + runs[..., EARLY]).ravel(),
            "faced_incidents": runs[..., INCIDENT].ravel(),
            "environment_runs": runs[..., ENVIRONMENT].ravel(),
            "stops": stops.sum(axis=-1).ravel(), "false_rollbacks": stops[..., HEALTHY].ravel(),
            "missed_incidents": (runs - stops)[..., INCIDENT].ravel(), "caught": stops[..., INCIDENT].ravel(),
            "early_stops": stops[..., EARLY].ravel(), "environment_stops": stops[..., ENVIRONMENT].ravel(),
            "harm": (harm[..., INCIDENT] + harm[..., EARLY]).ravel(),
            "harm_squares": (squares[..., INCIDENT] + squares[..., EARLY]).ravel(),
            "cost_harm": (harm[..., HEALTHY] + harm[..., INCIDENT] + harm[..., EARLY]).ravel(),
        })

    def decisions(self) -> pd.DataFrame:
        """Runs per gate, scenario, ground truth, decision and source (``""``: none), the pairs without runs left
        out: what ``runs.groupby([...]).size()`` would give."""
        index = np.nonzero(self.outcomes)
        names = {"gate": index[0], "scenario": np.array(self.scenarios, dtype=object)[index[1]],
                 "truth": np.array(TRUTHS, dtype=object)[index[2]],
                 "decision": np.array(KINDS, dtype=object)[index[3]],
                 "source": np.array([*self.sources, ""], dtype=object)[index[4]]}
        return pd.DataFrame({**names, "runs": self.outcomes[index]})

    # -- files -------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """An npz: a header (format, scenarios, sources), the counts, the sums (squares as decimal strings) and
        the delay histogram (what :meth:`load` reads from a file)."""
        cell, value, count = self.delays
        header = {"format": _FORMAT, "scenarios": list(self.scenarios), "sources": list(self.sources)}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, header=np.array(json.dumps(header)), outcomes=self.outcomes, harm=self.harm,
                            harm_squares=self.harm_squares.astype(str), delay_cell=cell, delay_value=value,
                            delay_count=count)
        return buffer.getvalue()

    @classmethod
    def load(cls, path: Path) -> "Tally":
        """The tally saved at ``path``; :class:`DataUnavailable` naming it when it is unreadable or inconsistent."""
        try:
            with zipfile.ZipFile(path) as archive:
                arrays = {name.removesuffix(".npy"): np.lib.format.read_array(io.BytesIO(archive.read(name)),
                                                                             allow_pickle=False)
                          for name in archive.namelist()}
            header = json.loads(str(arrays.pop("header")))
            if header.get("format") not in (1, _FORMAT):
                raise ValueError(f"format {header.get('format')}, this rampsim reads {_FORMAT}")
            outcomes, harm, squares = (arrays["outcomes"], arrays["harm"],
                                       np.vectorize(int, otypes=[object])(arrays["harm_squares"]))
            if header["format"] == 1 and outcomes.ndim == 5 and harm.ndim == 3:   # no early truth: none counted
                outcomes = np.concatenate([outcomes, np.zeros_like(outcomes[:, :, :1])], axis=2)
                harm = np.concatenate([harm, np.zeros_like(harm[:, :, :1])], axis=2)
                squares = np.concatenate([squares, np.zeros(squares.shape[:2] + (1,), np.int64).astype(object)],
                                         axis=2)
            tally = cls(tuple(header["scenarios"]), tuple(header["sources"]), outcomes, harm, squares,
                        [(arrays["delay_cell"], arrays["delay_value"], arrays["delay_count"])])
        except (OSError, EOFError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
            raise DataUnavailable(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
        problem = tally._inconsistency()
        if problem:
            raise DataUnavailable(f"{path}: not a sweep's tally ({problem})")
        return tally

    def _inconsistency(self) -> str:
        """What makes a loaded tally impossible, or ``""``."""
        gates, scenarios, truths = self.harm.shape if self.harm.ndim == 3 else (-1, -1, -1)
        cell, value, count = self._delays[0]
        if (self.outcomes.shape != (gates, len(self.scenarios), truths, len(KINDS), len(self.sources) + 1)
                or truths != len(TRUTHS) or self.harm_squares.shape != self.harm.shape or gates < 1
                or not (cell.ndim == value.ndim == count.ndim == 1 and len(cell) == len(value) == len(count))):
            return "arrays of mismatched shapes"
        if (not all(a.dtype.kind == "i" for a in (self.outcomes, self.harm, cell, count)) or value.dtype.kind != "f"
                or not all(isinstance(name, str) for name in (*self.scenarios, *self.sources))):
            return "arrays of unexpected types"
        if (self.outcomes < 0).any() or (self.harm < 0).any() or (count < 1).any() or not np.isfinite(value).all():
            return "negative counts or sums, or non-finite delays"
        runs = self.outcomes.sum(axis=(-1, -2)).astype(object)
        squares = self.harm_squares.ravel()
        if (not all(isinstance(x, int) and x >= 0 for x in squares)
                or ((runs * self.harm_squares - self.harm.astype(object) ** 2) < 0).any()):
            return "sums of squared harm that no runs can have"
        if ((cell < 0) | (cell >= gates * len(self.scenarios))).any() or not all(
                np.array_equal(a, b) for a, b in zip(_histogram(cell, value, count), (cell, value, count))):
            return "a delay histogram out of order"
        caught = self.outcomes[:, :, INCIDENT][:, :, _STOPS].sum(axis=(-1, -2)).ravel()
        if not np.array_equal(np.bincount(cell, count, minlength=len(caught)), caught):
            return "delays that do not add up to the caught incidents"
        return ""


def _truth(incident: np.ndarray, environment: np.ndarray) -> np.ndarray:
    """Each run's index into :data:`TRUTHS`."""
    incident, environment = np.asarray(incident, bool), np.asarray(environment, bool)
    if (incident & environment).any():
        raise ValueError("a run cannot be both an incident and an environment incident")
    return np.where(incident, INCIDENT, np.where(environment, ENVIRONMENT, HEALTHY))


def _histogram(cell: np.ndarray, value: np.ndarray, count: np.ndarray) -> _Delays:
    """``(cell, value, count)`` summed over equal (cell, value) pairs, sorted by cell then value."""
    order = np.lexsort((value, cell))
    cell, value, count = cell[order], value[order], count[order]
    first = np.ones(len(cell), bool)
    first[1:] = (cell[1:] != cell[:-1]) | (value[1:] != value[:-1])
    starts = np.flatnonzero(first)
    summed = np.add.reduceat(count, starts) if len(starts) else count[:0]
    return cell[starts].astype(np.int64), value[starts].astype(float), summed.astype(np.int64)


def histogram_quantiles(cell: np.ndarray, value: np.ndarray, count: np.ndarray, cells: int, p: float,
                        confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``p`` quantile of each cell's values, given as a sparse histogram sorted by cell then value, and its
    distribution-free interval at ``confidence``: exactly ``numpy.quantile`` (linear interpolation) and
    ``scipy.stats.quantile_test(...).confidence_interval`` on the values the histogram counts, except that an
    infinite value weighed in gives an infinite quantile where numpy gives NaN. NaN without values; NaN bounds
    with fewer than 3 values, or where an order statistic falls outside the sample."""
    n = np.bincount(cell, count, minlength=cells).astype(np.int64)
    cumulative = np.cumsum(count)
    offset = np.concatenate([[0], np.cumsum(n)[:-1]])

    def order_statistic(k: np.ndarray) -> np.ndarray:
        """The ``k``-th smallest value (from 0) of each cell; NaN where ``k`` is out of the cell's range."""
        inside = (k >= 0) & (k < n)
        at = np.searchsorted(cumulative, offset + np.where(inside, k, 0), side="right")
        return np.where(inside, value[np.minimum(at, len(value) - 1)] if len(value) else np.nan, np.nan)

    virtual = (n - 1) * p                                   # numpy's "linear" method, to the bit
    below = np.floor(virtual)
    gamma = virtual - below
    a = order_statistic(below.astype(np.int64))
    b = order_statistic(np.minimum(below.astype(np.int64) + 1, n - 1))
    with np.errstate(invalid="ignore"):
        difference = b - a
        estimate = np.where(gamma >= 0.5, b - difference * (1 - gamma), a + difference * gamma)
    # An infinite value (check's missed incidents, never detected) gives numpy NaN (inf - inf); the quantile is the
    # infinite order statistic when it is weighed in, the finite one when it is not.
    estimate = np.where(a == b, a, np.where(np.isinf(b), np.where(gamma > 0, b, a), estimate))
    from scipy import stats   # on first use: importing scipy.stats takes a second

    tail = (1 - confidence) / 2
    binomial = stats.binom(np.maximum(n, 1), p)
    low = order_statistic(binomial.ppf(tail).astype(np.int64) - 1)
    high = order_statistic(binomial.isf(tail).astype(np.int64))
    few = n < 3
    return estimate, np.where(few, np.nan, low), np.where(few, np.nan, high)


def harm_interval(total: np.ndarray, squares: np.ndarray, n: np.ndarray,
                  confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean harm and its normal (central limit) interval at ``confidence``, from the sum, the sum of squares
    (Python ints, exact) and the count: ``mean ± z·s/√n`` with ``s`` the sample standard deviation, its lower end
    at least 0 (harm counts requests). NaN without runs; the mean alone (a zero-width interval) with one run or
    equal values."""
    from scipy import stats

    n = np.asarray(n, np.int64)
    total_exact = np.asarray(total, np.int64).astype(object)
    spread = n.astype(object) * np.asarray(squares, object) - total_exact * total_exact   # n(n-1)·(sample variance)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.asarray(total, float) / np.where(n > 0, n, np.nan)
        variance = spread.astype(float) / (n * (n - 1.0))
        half = stats.norm.ppf(0.5 + confidence / 2) * np.sqrt(np.where(n > 1, variance, 0.0) / n)
    half = np.where(n > 1, half, 0.0)
    return mean, np.maximum(mean - half, 0.0), mean + half
