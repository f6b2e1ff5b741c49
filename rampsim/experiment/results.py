"""Sweep results: each gate's operating characteristics, from the sweep's tally of outcomes.

A sweep keeps a :class:`~rampsim.experiment.tally.Tally`: its runs counted per gate and
scenario (by ground truth, decision and source), their harm summed and their detection
delays as exact histograms, a size that does not grow with the replicates. Its runs
themselves, ``SweepResult.runs``, one row per (gate, scenario, replicate), are kept only
on request (``sweep(..., keep_runs=True)``, ``rampsim sweep --keep-runs``): the decision,
its time, the detection delay, the harm, and the ground truth: ``incident`` (an incident
the gate must stop) or ``environment`` (an environment incident the plan's
``slo.environment_incidents: separate`` reports on its own, see
:mod:`rampsim.sim.truth`), else healthy. ``SweepResult.summary()`` has one row per gate:

* **false-rollback rate**: share of healthy runs (ground truth) that the gate held
  or rolled back, with a Wilson 95% interval;
* **missed-incident rate**: share of the incident runs it faced (``faced_incidents``: not
  stopped before their fault, an *early stop*, which is neither a catch nor a miss) that it
  did not stop: advanced, or reached no decision (Wilson);
* **environment stops**: stops of environment-incident runs, and their share of those
  runs (Wilson): neither false rollbacks nor catches, since stopping the canary does
  not fix a breach the release did not cause (under ``slo.environment_incidents:
  incident`` there are none: such runs are incidents, a stop a catch and no stop a miss);
* **time to detect**: median and 90th percentile of the detection delay of caught
  incidents, with distribution-free (order statistic) 95% intervals;
* **harm**: mean canary requests served by a faulty arm before the decision, per
  incident run, with the normal (central limit) 95% interval of the mean,
  ``mean ± 1.96·s/√n`` from the tally's exact sums of the harm and its squares;
* **precision** and **recall** as the SRE workbook uses them for alerts: of the
  gate's stops (environment stops aside), the share that caught an incident (early stops
  are false alarms); of the incidents, the share caught;
* **cost** per run, for given costs of a false rollback, a missed incident and a
  harmed request (harm counted on every run but environment incidents: a benign fault
  can harm too, while a stop spares no one a shared fault); an environment stop costs
  nothing, whatever the gate does on such runs; ``pareto`` marks gates for which no other
  gate has a false-rollback rate and a missed-incident rate as low or lower, one of them lower
  (:func:`pareto_front`);
* **the recommendation** (``cost_optimal``, exactly one gate): the lowest cost; among
  equal costs the fastest median detection, then the least harm per incident, then the
  fewest parameters changed from the plan, then the grid's order (:data:`RECOMMENDATION_RULE`).

Saved as ``tally.npz`` (and ``runs.csv.gz`` when the runs were kept) and ``grid.csv``
with a ``sweep.json`` holding the plan, mix, grid, seed and package version;
``SweepResult.load`` reads them back (a directory of an older rampsim, with
``runs.csv.gz`` alone, too), and reports a missing, truncated, garbled or inconsistent
file as :class:`~rampsim.errors.DataUnavailable` naming it.
"""
from __future__ import annotations

import io
import json
import math
import numbers
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from rampsim.errors import DataUnavailable, UsageError
from rampsim.experiment.chunks import KINDS, Chunk, output_directory, plan_digest, write_atomically, writing
from rampsim.experiment.tally import Tally, harm_interval, histogram_quantiles
from rampsim.sim.truth import before_fault
from rampsim.plan.loader import as_plan
from rampsim.plan.schema import Plan

__all__ = ["Costs", "SweepResult", "wilson", "quantile_interval", "pareto_front", "recommended", "runs_in_words",
           "RECOMMENDATION_RULE"]

RECOMMENDATION_RULE = ("lowest cost; on a tie, fastest median detection, then least harm per incident, then fewest "
                       "parameters changed from the plan")

_CONFIDENCE = 0.95
_RUN_COLUMNS = {"gate": "integer", "scenario": None, "replicate": "integer", "incident": "boolean",
                "environment": "boolean", "incident_start": "numeric", "fault_start": "numeric", "decision": None,
                "decision_time": "numeric", "source": None, "harmed": "numeric", "exposed": "numeric",
                "detection_delay": "numeric"}
TALLY_FILE, RUNS_FILE = "tally.npz", "runs.csv.gz"
_T = TypeVar("_T")


MAX_COST = 1e15
"""The largest cost of one mistake (any currency): a sum over a sweep's runs stays finite."""


@dataclass(frozen=True)
class Costs:
    """What each kind of mistake costs, in any one currency.

    Stops of environment incidents cost nothing (see the module docstring); a team for which
    they are incidents says so in its plan (``slo.environment_incidents: incident``).
    """

    false_rollback: float = 1.0
    missed_incident: float = 10.0
    harmed_request: float = 0.0

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= MAX_COST:
                raise UsageError(f"cost {name}={value!r}: expected a number from 0 to {MAX_COST:g} (larger ones "
                                 "overflow once multiplied by the counts)")

    @classmethod
    def parse(cls, text: str) -> "Costs":
        """``false_rollback=1,missed_incident=20,harmed_request=0.0001`` (short names fr, mi, harm)."""
        aliases = {"fr": "false_rollback", "mi": "missed_incident", "harm": "harmed_request"}
        if not text.strip():
            raise UsageError("costs '': expected NAME=NUMBER,... with NAME one of fr, mi, harm")
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, eq, value = part.partition("=")
            key = aliases.get(key.strip(), key.strip())
            if not eq or key not in cls.__dataclass_fields__:
                raise UsageError(f"costs {text!r}: expected NAME=NUMBER with NAME one of fr, mi, harm")
            if key in values:
                raise UsageError(f"costs {text!r}: {key} is given twice")
            try:
                values[key] = float(value)
            except ValueError:
                raise UsageError(f"costs {text!r}: {value!r} is not a number") from None
        return cls(**values)


def wilson(successes: npt.ArrayLike, trials: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Wilson 95% intervals for ``successes / trials`` (NaN where there are no trials)."""
    from scipy import stats   # on first use: importing scipy.stats takes a second

    successes, trials = np.asarray(successes), np.asarray(trials)
    low, high = np.full(len(trials), np.nan), np.full(len(trials), np.nan)
    for i, (k, n) in enumerate(zip(successes, trials)):
        if n > 0:
            interval = stats.binomtest(int(k), int(n)).proportion_ci(_CONFIDENCE, method="wilson")
            low[i], high[i] = interval.low, interval.high
    return low, high


def quantile_interval(values: np.ndarray, p: float) -> tuple[float, float, float]:
    """The ``p`` quantile of ``values`` and its distribution-free 95% interval (NaN when too few): see
    :func:`~rampsim.experiment.tally.histogram_quantiles`."""
    distinct, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
    estimate, low, high = histogram_quantiles(np.zeros(len(distinct), np.int64), distinct, counts, 1, p, _CONFIDENCE)
    return float(estimate[0]), float(low[0]), float(high[0])


def recommended(summary: pd.DataFrame) -> int:
    """The row position of the one gate :data:`RECOMMENDATION_RULE` picks in ``summary``."""
    keys = [summary["cost"].to_numpy(float), summary["detect_median_s"].to_numpy(float),
            summary["harm_mean"].to_numpy(float), summary["changes"].to_numpy(float), np.arange(len(summary))]
    missing_last = [np.where(np.isnan(k), np.inf, k) for k in keys]
    return int(np.lexsort(missing_last[::-1])[0])


def runs_in_words(row: pd.Series) -> str:
    """A summary row's runs by ground truth: ``120 healthy, 64 incident and 16 environment-incident runs``
    (environment incidents only when there are some)."""
    parts = [f"{int(row['healthy_runs'])} healthy", f"{int(row['incident_runs'])} incident"]
    parts += [f"{int(row['environment_runs'])} environment-incident"] * bool(row["environment_runs"])
    return f"{', '.join(parts[:-1])} and {parts[-1]} runs"


def pareto_front(false_rollback: npt.ArrayLike, missed: npt.ArrayLike) -> np.ndarray:
    """True for gates for which no other gate has a false-rollback rate and a missed-incident rate as low or lower,
    one of them lower (weak dominance: gates with the same two rates are all on the front); False for a gate
    without one of the rates (NaN: no run of that kind), which never puts another off the front either."""
    fr, mi = np.asarray(false_rollback, float), np.asarray(missed, float)
    dominated = ((fr[None, :] <= fr[:, None]) & (mi[None, :] <= mi[:, None])
                 & ((fr[None, :] < fr[:, None]) | (mi[None, :] < mi[:, None]))).any(axis=1)
    return ~dominated & ~np.isnan(fr) & ~np.isnan(mi)


@dataclass
class SweepResult:
    """A sweep's outcomes per gate and scenario (``tally``), its gates (``grid``), how it was made (``meta``) and,
    when kept, its runs (:attr:`runs`)."""

    tally: Tally
    grid: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    kept_runs: Optional[pd.DataFrame] = None

    @classmethod
    def from_runs(cls, runs: pd.DataFrame, grid: pd.DataFrame, meta: Optional[dict[str, Any]] = None,
                  scenarios: Optional[Sequence[str]] = None, sources: Optional[Sequence[str]] = None) -> "SweepResult":
        """The result of a table of runs (``runs``' columns; ``environment`` may be missing: results of a rampsim
        before attribution, every run ``False``), tallied over ``scenarios`` and ``sources`` (by default those
        of the runs, in sorted order). The runs are kept."""
        runs = _with_environment(runs)
        scenarios = sorted(set(runs["scenario"])) if scenarios is None else scenarios
        sources = sorted(set(runs["source"].fillna("")) - {""}) if sources is None else sources
        return cls(Tally.of_runs(runs, len(grid), scenarios, sources), grid, dict(meta or {}), runs)

    @classmethod
    def from_chunks(cls, chunks: Sequence[Chunk], grid_values: Sequence[dict[str, str]], scenarios: Sequence[str],
                    sources: Sequence[str], meta: dict[str, Any], tally: Tally) -> "SweepResult":
        """The result of a sweep: its ``tally``, and the runs of ``chunks`` when there are some (kept runs)."""
        grid = pd.DataFrame([{"gate": i, **values} for i, values in enumerate(grid_values)])
        return cls(tally, grid, dict(meta), _runs(chunks, len(grid_values), scenarios, sources) if chunks else None)

    @property
    def runs(self) -> pd.DataFrame:
        """One row per gate, scenario and replicate (see the module docstring); only when the sweep kept them."""
        if self.kept_runs is None:
            raise UsageError("this sweep did not keep its runs (one row per gate and replicate): run it with "
                             "keep_runs=True (rampsim sweep --keep-runs); the summary, breakdown, decisions and "
                             "detection delays are in the result without them")
        return self.kept_runs

    @property
    def parameters(self) -> list[str]:
        """The grid's varied plan paths."""
        return [c for c in self.grid.columns if c != "gate"]

    def summary(self, costs: Optional[Costs | str] = None) -> pd.DataFrame:
        """Operating characteristics per gate (see the module docstring), one row each, the cost for ``costs`` (a
        :class:`Costs` or its text, ``"fr=1,mi=10,harm=0"``; by default those the sweep was reported with,
        :meth:`costs`, as its ``summary.csv`` and the command line's table)."""
        costs = self._costs(costs)
        table = self.tally.counts(by_scenario=False)
        cell, value, count = self.tally.gate_delays()
        for name, p in (("detect_median", 0.5), ("detect_p90", 0.9)):
            (table[f"{name}_s"], table[f"{name}_low"],
             table[f"{name}_high"]) = histogram_quantiles(cell, value, count, len(table), p, _CONFIDENCE)
        table["harm_mean"], table["harm_low"], table["harm_high"] = harm_interval(
            table["harm"].to_numpy(), table["harm_squares"].to_numpy(), table["incident_runs"].to_numpy(),
            _CONFIDENCE)
        stops = table["caught"] + table["false_rollbacks"] + table["early_stops"]   # an early stop is a false alarm
        table["precision"] = table["caught"] / stops.where(stops > 0)
        table["cost"] = (costs.false_rollback * (table["false_rollbacks"] + table["early_stops"])
                         + costs.missed_incident * table["missed_incidents"]
                         + costs.harmed_request * table["cost_harm"].astype(float)) / table["runs"]
        table = table.drop(columns=["stops", "harm", "harm_squares", "cost_harm"])
        table["false_rollback_rate"] = _rate(table["false_rollbacks"], table["healthy_runs"])
        table["false_rollback_low"], table["false_rollback_high"] = wilson(table["false_rollbacks"],
                                                                           table["healthy_runs"])
        table["missed_incident_rate"] = _rate(table["missed_incidents"], table["faced_incidents"])  # early stops
        table["missed_incident_low"], table["missed_incident_high"] = wilson(table["missed_incidents"],  # neither
                                                                             table["faced_incidents"])
        table["environment_stop_rate"] = _rate(table["environment_stops"], table["environment_runs"])
        table["environment_stop_low"], table["environment_stop_high"] = wilson(table["environment_stops"],
                                                                               table["environment_runs"])
        table["recall"] = _rate(table["caught"], table["incident_runs"])
        table["pareto"] = pareto_front(table["false_rollback_rate"], table["missed_incident_rate"])
        changes = self.meta.get("changes")
        table["changes"] = changes if isinstance(changes, list) and len(changes) == len(table) else np.nan
        table["cost_optimal"] = np.arange(len(table)) == recommended(table)
        return self.grid.merge(table, on="gate")

    def _costs(self, costs: Optional[Costs | str]) -> Costs:
        if costs is None:
            return self.costs()
        if isinstance(costs, str):
            return Costs.parse(costs)
        if not isinstance(costs, Costs):
            raise UsageError(f"costs: a Costs or its text such as 'fr=1,mi=10,harm=0', not {type(costs).__name__}")
        return costs

    def best(self, costs: Optional[Costs | str] = None) -> pd.Series:
        """The recommended gate: the cost-optimal one, ties broken by :data:`RECOMMENDATION_RULE` (``costs``: as
        :meth:`summary`'s)."""
        summary = self.summary(costs)
        return summary[summary["cost_optimal"]].iloc[0]

    def breakdown(self) -> pd.DataFrame:
        """Per gate and scenario with runs: runs, whether the scenario is an incident or an environment incident
        (ground truth), stops (hold or rollback), false rollbacks (stops of a healthy scenario), early stops (of an
        incident, before the gate saw its fault), missed incidents and environment stops. Sums to the totals."""
        counts = self.tally.counts()
        table = (counts[counts["runs"] > 0]
                 [["gate", "scenario", "runs", "incident_runs", "environment_runs", "stops", "false_rollbacks",
                   "early_stops", "missed_incidents", "environment_stops"]]
                 .sort_values(["gate", "scenario"], kind="stable").reset_index(drop=True))
        table["incident"] = table["incident_runs"] > 0
        table["environment"] = table["environment_runs"] > 0
        return table

    def breakdown_notes(self, gate: int) -> list[str]:
        """What drives ``gate``'s false rollbacks: each scenario with faults the SLO calls healthy that makes up at
        least half of them, said in words (a scenario without faults is healthy by construction, whatever its name;
        results from before the mix's fault-free scenarios were recorded take ``healthy`` as the one)."""
        rows = self.breakdown()
        rows = rows[rows["gate"] == gate]
        total = int(rows["false_rollbacks"].sum())
        fault_free = set(self.meta.get("fault_free", ["healthy"]))
        drivers = rows[~rows["scenario"].isin(fault_free) & (rows["false_rollbacks"] * 2 >= total)
                       & (rows["false_rollbacks"] > 0)].sort_values("false_rollbacks", ascending=False)
        return [f"the SLO does not count {row.scenario} as an incident, yet {row.false_rollbacks} of the {total} "
                f"false rollbacks are stops of it: tighten the SLO if it is one, or accept that the gate stops it"
                for row in drivers.itertuples()]

    def decisions(self) -> pd.DataFrame:
        """Runs per gate, scenario, ground truth (``truth``: healthy, incident, environment, or early: an incident
        stopped before the gate saw its fault), decision and the source that decided it (``""``: none): what
        stopped the ramps, without the runs."""
        return self.tally.decisions()

    def best_plan(self, plan: Plan, costs: Optional[Costs | str] = None) -> Plan:
        """The recommended gate as a whole plan: ``plan`` (the swept one: another is refused) with its grid values,
        as the sweep judged them (:func:`~rampsim.experiment.axes.grid_overrides`)."""
        from rampsim.experiment.axes import grid_overrides
        from rampsim.plan.loader import with_overrides

        plan = as_plan("best_plan: plan", plan)
        digest = self.meta.get("plan_digest")
        if digest is not None and plan.source is not None and plan_digest(plan.source.data) != digest:
            raise UsageError(f"plan: {plan.source.filename} is not the plan this sweep ran on "
                             f"({self.meta.get('plan', 'its file')}): its grid values belong to that one")
        best = self.best(costs)
        return with_overrides(plan, grid_overrides({path: str(best[path]) for path in self.parameters}, plan))

    def __repr__(self) -> str:
        runs = int(self.tally.outcomes.sum())
        kept = "" if self.kept_runs is None else ", runs kept"
        scenarios = len(self.tally.scenarios)
        return (f"<SweepResult of {self.meta.get('plan', 'a plan')}: {len(self.grid)} gates x "
                f"{self.meta.get('replicates', '?')} replicates over {scenarios} scenario{'s' * (scenarios != 1)} "
                f"({runs:,} judged runs{kept})>")

    def _repr_html_(self) -> str:
        summary = self.summary()
        shown = [*self.parameters, "false_rollback_rate", "missed_incident_rate", "environment_stop_rate",
                 "detect_median_s", "harm_mean", "pareto"]
        return (f"<p><b>Sweep</b> of {self.meta.get('plan', 'a plan')}: {len(self.grid)} gates × "
                f"{self.meta.get('replicates', '?')} replicates ({int(summary['runs'].sum())} judged runs)</p>"
                + summary[shown].to_html(index=False, float_format=lambda x: f"{x:.4g}"))

    # -- files -------------------------------------------------------------------------

    def costs(self) -> Costs:
        """The costs the sweep was reported with (``meta['costs']``), else the defaults."""
        return Costs(**self.meta.get("costs", {}))

    def save(self, directory: Path) -> None:
        """``tally.npz``, ``grid.csv`` and ``sweep.json`` in ``directory``, and ``runs.csv.gz`` when the runs were
        kept (an older one is removed otherwise: it would be another sweep's). Each file is written whole or not at
        all, and ``sweep.json`` is removed first and written last: a save cut short (Ctrl-C, a full disk) leaves no
        results that mix this sweep's files with an older one's, and loading them says which file is missing."""
        directory = output_directory(Path(directory))
        with writing(directory):
            (directory / "sweep.json").unlink(missing_ok=True)
            write_atomically(directory / TALLY_FILE, self.tally.to_bytes())
            if self.kept_runs is not None:
                runs = io.BytesIO()
                self.kept_runs.to_csv(runs, index=False, compression={"method": "gzip", "mtime": 0})
                write_atomically(directory / RUNS_FILE, runs.getvalue())
            else:
                (directory / RUNS_FILE).unlink(missing_ok=True)
            write_atomically(directory / "grid.csv", self.grid.to_csv(index=False).encode())
            write_atomically(directory / "sweep.json", json.dumps(self.meta, indent=2, default=str).encode())

    @classmethod
    def load(cls, directory: Path) -> "SweepResult":
        """The results saved in ``directory`` (a tally, with or without the runs, or the runs alone, as rampsim
        wrote them before tallies); :class:`DataUnavailable` naming the file that cannot be read."""
        if not isinstance(directory, (str, os.PathLike)):
            raise UsageError(f"SweepResult.load: directory is a path, got {type(directory).__name__}")
        directory = Path(directory)
        if not directory.is_dir():
            problem = "not a directory" if directory.exists() else "no such directory"
            raise DataUnavailable(f"{directory}: {problem} (expected a sweep's results directory)")
        outcomes = [name for name in (TALLY_FILE, RUNS_FILE) if (directory / name).exists()]
        missing = [name for name in ("grid.csv", "sweep.json") if not (directory / name).exists()]
        if missing or not outcomes:
            missing += [] if outcomes else [f"{TALLY_FILE} or {RUNS_FILE}"]
            raise DataUnavailable(f"{directory}: not a sweep's results (missing {', '.join(missing)})")
        grid = _read(directory / "grid.csv", lambda path: pd.read_csv(path, dtype=str).astype({"gate": int}))
        meta = _read(directory / "sweep.json", lambda path: json.loads(path.read_text()))
        if not isinstance(meta, dict):
            raise DataUnavailable(f"{directory / 'sweep.json'}: expected a JSON object, found {type(meta).__name__}")
        _check_meta(meta, directory / "sweep.json")
        if not np.array_equal(grid["gate"].to_numpy(), np.arange(len(grid))):
            raise DataUnavailable(f"{directory / 'grid.csv'}: its gates are not numbered 0, 1, 2, ...")
        tally = Tally.load(directory / TALLY_FILE) if TALLY_FILE in outcomes else None
        if tally is not None and tally.gates != len(grid):
            raise DataUnavailable(f"{directory / TALLY_FILE}: counts {tally.gates} gates, grid.csv lists {len(grid)}")
        runs = _read_runs(directory / RUNS_FILE, len(grid), tally) if RUNS_FILE in outcomes else None
        if tally is None:
            assert runs is not None
            try:
                result = cls.from_runs(runs, grid, meta)
            except ValueError as exc:   # runs no sweep writes: fractional or negative harm, both kinds of incident
                raise DataUnavailable(f"{directory / RUNS_FILE}: not a sweep's runs ({exc})") from None
        else:
            result = cls(tally, grid, meta, runs)
        try:
            result.costs()
        except (TypeError, UsageError) as exc:
            raise DataUnavailable(f"{directory / 'sweep.json'}: costs: {exc}") from None
        return result


def _check_meta(meta: dict[str, Any], path: Path) -> None:
    """:class:`DataUnavailable` naming ``path`` when a field reports print is not what a sweep writes there."""
    for field, kind, what in (("replicates", int, "a whole number of replicates"), ("seed", int, "a whole number"),
                              ("plan", str, "a file name"), ("mix", str, "a file name or a mix name")):
        value = meta.get(field)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)
                                  or (field == "replicates" and int(value) < 1)):
            raise DataUnavailable(f"{path}: {field}: expected {what}, found {value!r}")


def _runs(chunks: Sequence[Chunk], n_gates: int, scenarios: Sequence[str], sources: Sequence[str]) -> pd.DataFrame:
    """The runs of ``chunks`` as a table, one row per gate and replicate, sorted by gate, scenario and replicate."""
    columns: dict[str, list[np.ndarray]] = {k: [] for k in
                                            ("gate", "scenario", "replicate", "incident", "environment",
                                             "incident_start", "fault_start", "decision", "decision_time",
                                             "source", "harmed", "exposed")}
    names, source_names = np.array(KINDS, dtype=object), np.array([*sources, ""], dtype=object)
    for chunk in chunks:
        n = len(chunk.incident)
        columns["gate"].append(np.tile(np.arange(n_gates), n))
        columns["scenario"].append(np.full(n * n_gates, scenarios[chunk.scenario], dtype=object))
        columns["replicate"].append(np.repeat(np.arange(chunk.start, chunk.start + n), n_gates))
        columns["incident"].append(np.repeat(chunk.incident, n_gates))
        columns["environment"].append(np.repeat(chunk.environment, n_gates))
        columns["incident_start"].append(np.repeat(chunk.incident_start, n_gates))
        columns["fault_start"].append(np.repeat(chunk.onset, n_gates))
        columns["decision"].append(names[chunk.kind.reshape(-1)])
        columns["decision_time"].append(chunk.time.reshape(-1))
        columns["source"].append(source_names[chunk.source.reshape(-1)])
        columns["harmed"].append(chunk.harmed.reshape(-1))
        columns["exposed"].append(chunk.exposed.reshape(-1))
    runs = pd.DataFrame({k: np.concatenate(v) for k, v in columns.items()})
    early = before_fault(runs["decision_time"], runs["fault_start"])
    runs["detection_delay"] = np.where(runs["incident"] & runs["decision"].isin(["hold", "rollback"]) & ~early,
                                       runs["decision_time"] - runs["incident_start"], np.nan)
    return runs.sort_values(["gate", "scenario", "replicate"], kind="stable").reset_index(drop=True)


def _read_runs(path: Path, gates: int, tally: Optional[Tally]) -> pd.DataFrame:
    """The runs saved at ``path``, checked, and checked against ``tally`` when there is one."""
    runs = _with_environment(_read(path, lambda path: pd.read_csv(path, keep_default_na=False, na_values=[""])))
    _check_runs(runs, path)
    runs["source"] = runs["source"].fillna("")
    if sorted(set(runs["gate"])) != list(range(gates)):
        raise DataUnavailable(f"{path}: its gates are not those of grid.csv")
    if tally is not None:
        try:
            again = Tally.of_runs(runs, gates, tally.scenarios, tally.sources)
        except ValueError as exc:
            raise DataUnavailable(f"{path}: not the runs of {TALLY_FILE} ({exc})") from None
        if not again.equals(tally):
            raise DataUnavailable(f"{path}: not the runs {TALLY_FILE} counts")
    return runs


def _read(path: Path, reader: Callable[[Path], _T]) -> _T:
    """``reader(path)``, a file that cannot be read or parsed reported as :class:`DataUnavailable`."""
    try:
        return reader(path)
    except (OSError, EOFError, ValueError, KeyError, zlib.error) as exc:  # parse errors, bad UTF-8, no column
        raise DataUnavailable(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None


def _with_environment(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with an ``environment`` column: runs of a rampsim before attribution, which has none, counted
    every breach of the SLO as an incident (``False`` throughout); and a ``fault_start`` column: runs of a rampsim
    before it counted a stop before the first fault as a catch (``NaN`` throughout keeps their counts)."""
    runs = runs if "environment" in runs else runs.assign(environment=False)
    return runs if "fault_start" in runs else runs.assign(fault_start=np.nan)


def _check_runs(runs: pd.DataFrame, path: Path) -> None:
    """Raise :class:`DataUnavailable` unless ``runs`` has the columns and values a sweep writes."""
    missing = [name for name in _RUN_COLUMNS if name not in runs.columns]
    if missing:
        raise DataUnavailable(f"{path}: not a sweep's runs (missing columns {', '.join(missing)})")
    if runs.empty:
        raise DataUnavailable(f"{path}: no runs")
    checks = {"integer": pd.api.types.is_integer_dtype, "boolean": pd.api.types.is_bool_dtype,
              "numeric": pd.api.types.is_numeric_dtype}
    wrong = [name for name, kind in _RUN_COLUMNS.items() if kind and not checks[kind](runs[name])]
    if wrong:
        raise DataUnavailable(f"{path}: unexpected values in column(s) {', '.join(wrong)}")
    if not runs["decision"].isin(KINDS).all():
        raise DataUnavailable(f"{path}: a decision is not one of {', '.join(KINDS)}")


def _rate(k: pd.Series, n: pd.Series) -> pd.Series:
    return pd.Series(np.where(n > 0, k / n.where(n > 0, 1), np.nan), index=k.index)
