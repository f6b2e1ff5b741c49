"""Sweep results: every run's outcome as a tidy table, and each gate's operating characteristics.

``SweepResult.runs`` has one row per (gate, scenario, replicate): the decision, its
time, the detection delay, the harm, and the ground truth: ``incident`` (an incident
the gate must stop) or ``environment`` (an environment incident the plan's
``slo.environment_incidents: separate`` reports on its own, see
:mod:`rampsim.sim.truth`), else healthy. ``SweepResult.summary()`` has one row per gate:

* **false-rollback rate**: share of healthy runs (ground truth) that the gate held
  or rolled back, with a Wilson 95% interval;
* **missed-incident rate**: share of incident runs that it did not stop: advanced, or
  reached no decision (Wilson);
* **environment stops**: stops of environment-incident runs, and their share of those
  runs (Wilson): neither false rollbacks nor catches, since stopping the canary does
  not fix a breach the release did not cause (under ``slo.environment_incidents:
  incident`` there are none: such runs are incidents, a stop a catch and no stop a miss);
* **time to detect**: median and 90th percentile of the detection delay of caught
  incidents, with distribution-free (order statistic) 95% intervals;
* **harm**: mean canary requests served by a faulty arm before the decision, per
  incident run, with a percentile-bootstrap 95% interval (fixed seed);
* **precision** and **recall** as the SRE workbook uses them for alerts: of the
  gate's stops (environment stops aside), the share that were incidents; of the
  incidents, the share stopped;
* **cost** per run, for given costs of a false rollback, a missed incident and a
  harmed request (harm counted on every run but environment incidents: a benign fault
  can harm too, while a stop spares no one a shared fault); an environment stop costs
  nothing, whatever the gate does on such runs; ``pareto`` marks gates no other gate
  beats on both rates;
* **the recommendation** (``cost_optimal``, exactly one gate): the lowest cost; among
  equal costs the fastest median detection, then the least harm per incident, then the
  fewest parameters changed from the plan, then the grid's order (:data:`RECOMMENDATION_RULE`).

Saved as ``runs.csv.gz`` and ``grid.csv`` with a ``sweep.json`` holding the plan,
mix, grid, seed and package version; ``SweepResult.load`` reads them back, and
reports a missing, truncated or garbled file as :class:`~rampsim.errors.DataUnavailable`
naming it.
"""
from __future__ import annotations

import json
import math
import numbers
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from rampsim.errors import DataUnavailable, UsageError
from rampsim.experiment.chunks import KINDS, Chunk, output_directory, writing
from rampsim.plan.schema import Plan

__all__ = ["Costs", "SweepResult", "wilson", "quantile_interval", "pareto_front", "recommended", "runs_in_words",
           "RECOMMENDATION_RULE"]

RECOMMENDATION_RULE = ("lowest cost; on a tie, fastest median detection, then least harm per incident, then fewest "
                       "parameters changed from the plan")

_CONFIDENCE = 0.95
_RUN_COLUMNS = {"gate": "integer", "scenario": None, "replicate": "integer", "incident": "boolean",
                "environment": "boolean", "incident_start": "numeric", "decision": None, "decision_time": "numeric",
                "source": None, "harmed": "numeric", "exposed": "numeric", "detection_delay": "numeric"}
_T = TypeVar("_T")


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
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < math.inf:
                raise UsageError(f"cost {name}={value!r}: expected a finite number, zero or more")

    @classmethod
    def parse(cls, text: str) -> "Costs":
        """``false_rollback=1,missed_incident=20,harmed_request=0.0001`` (short names fr, mi, harm)."""
        aliases = {"fr": "false_rollback", "mi": "missed_incident", "harm": "harmed_request"}
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, eq, value = part.partition("=")
            key = aliases.get(key.strip(), key.strip())
            if not eq or key not in cls.__dataclass_fields__:
                raise UsageError(f"costs {text!r}: expected NAME=NUMBER with NAME one of fr, mi, harm")
            try:
                values[key] = float(value)
            except ValueError:
                raise UsageError(f"costs {text!r}: {value!r} is not a number") from None
        return cls(**values)


def wilson(successes: npt.ArrayLike, trials: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Wilson 95% intervals for ``successes / trials`` (NaN where there are no trials)."""
    successes, trials = np.asarray(successes), np.asarray(trials)
    low, high = np.full(len(trials), np.nan), np.full(len(trials), np.nan)
    for i, (k, n) in enumerate(zip(successes, trials)):
        if n > 0:
            interval = stats.binomtest(int(k), int(n)).proportion_ci(_CONFIDENCE, method="wilson")
            low[i], high[i] = interval.low, interval.high
    return low, high


def quantile_interval(values: np.ndarray, p: float) -> tuple[float, float, float]:
    """The ``p`` quantile of ``values`` and its distribution-free 95% interval (NaN when too few)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    estimate = float(np.quantile(values, p))
    if len(values) < 3:
        return estimate, np.nan, np.nan
    interval = stats.quantile_test(values, q=estimate, p=p).confidence_interval(_CONFIDENCE)
    return estimate, float(interval.low), float(interval.high)


def _mean_interval(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    if len(values) < 2 or np.all(values == values[0]):
        return float(values.mean()), float(values.mean()), float(values.mean())
    result = stats.bootstrap((values,), np.mean, n_resamples=999, method="percentile",
                             confidence_level=_CONFIDENCE, rng=np.random.default_rng(seed))
    return float(values.mean()), float(result.confidence_interval.low), float(result.confidence_interval.high)


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
    """True for gates that no other gate matches or beats on both rates while beating on one."""
    fr, mi = np.asarray(false_rollback, float), np.asarray(missed, float)
    dominated = ((fr[None, :] <= fr[:, None]) & (mi[None, :] <= mi[:, None])
                 & ((fr[None, :] < fr[:, None]) | (mi[None, :] < mi[:, None]))).any(axis=1)
    return ~dominated & ~np.isnan(fr) & ~np.isnan(mi)


@dataclass
class SweepResult:
    """The runs of a sweep (``runs``), its gates (``grid``) and how it was made (``meta``)."""

    runs: pd.DataFrame
    grid: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.runs = _with_environment(self.runs)

    @classmethod
    def from_chunks(cls, chunks: Sequence[Chunk], grid_values: Sequence[dict[str, str]], scenarios: Sequence[str],
                    sources: Sequence[str], meta: dict[str, Any]) -> "SweepResult":
        n_gates = len(grid_values)
        columns: dict[str, list[np.ndarray]] = {k: [] for k in
                                                ("gate", "scenario", "replicate", "incident", "environment",
                                                 "incident_start", "decision", "decision_time", "source", "harmed",
                                                 "exposed")}
        names, source_names = np.array(KINDS, dtype=object), np.array([*sources, ""], dtype=object)
        for chunk in chunks:
            n = len(chunk.incident)
            columns["gate"].append(np.tile(np.arange(n_gates), n))
            columns["scenario"].append(np.full(n * n_gates, scenarios[chunk.scenario], dtype=object))
            columns["replicate"].append(np.repeat(np.arange(chunk.start, chunk.start + n), n_gates))
            columns["incident"].append(np.repeat(chunk.incident, n_gates))
            columns["environment"].append(np.repeat(chunk.environment, n_gates))
            columns["incident_start"].append(np.repeat(chunk.incident_start, n_gates))
            columns["decision"].append(names[chunk.kind.reshape(-1)])
            columns["decision_time"].append(chunk.time.reshape(-1))
            columns["source"].append(source_names[chunk.source.reshape(-1)])
            columns["harmed"].append(chunk.harmed.reshape(-1))
            columns["exposed"].append(chunk.exposed.reshape(-1))
        runs = pd.DataFrame({k: np.concatenate(v) if v else np.array([]) for k, v in columns.items()})
        runs["detection_delay"] = np.where(runs["incident"] & runs["decision"].isin(["hold", "rollback"]),
                                           runs["decision_time"] - runs["incident_start"], np.nan)
        grid = pd.DataFrame([{"gate": i, **values} for i, values in enumerate(grid_values)])
        return cls(runs.sort_values(["gate", "scenario", "replicate"], kind="stable").reset_index(drop=True),
                   grid, dict(meta))

    @property
    def parameters(self) -> list[str]:
        """The grid's varied plan paths."""
        return [c for c in self.grid.columns if c != "gate"]

    def summary(self, costs: Optional[Costs] = None) -> pd.DataFrame:
        """Operating characteristics per gate (see the module docstring), one row each."""
        costs = costs or Costs()
        rows = []
        for gate, runs in self.runs.groupby("gate", sort=True):
            healthy = ~runs["incident"] & ~runs["environment"]
            incidents = runs[runs["incident"]]
            stopped = runs["decision"].isin(["hold", "rollback"])
            false_rollbacks = int(stopped[healthy].sum())
            missed = int((~incidents["decision"].isin(["hold", "rollback"])).sum())  # advanced, or never decided
            caught = int(stopped[runs["incident"]].sum())
            delays = incidents["detection_delay"].dropna().to_numpy()
            median, median_low, median_high = quantile_interval(delays, 0.5)
            p90, p90_low, p90_high = quantile_interval(delays, 0.9)
            harm, harm_low, harm_high = _mean_interval(incidents["harmed"].to_numpy())
            rows.append({
                "gate": gate, "runs": len(runs), "healthy_runs": int(healthy.sum()),
                "incident_runs": len(incidents), "environment_runs": int(runs["environment"].sum()),
                "false_rollbacks": false_rollbacks, "missed_incidents": missed, "caught": caught,
                "environment_stops": int(stopped[runs["environment"]].sum()),
                "detect_median_s": median, "detect_median_low": median_low, "detect_median_high": median_high,
                "detect_p90_s": p90, "detect_p90_low": p90_low, "detect_p90_high": p90_high,
                "harm_mean": harm, "harm_low": harm_low, "harm_high": harm_high,
                "precision": caught / (caught + false_rollbacks) if caught + false_rollbacks else np.nan,
                "cost": (costs.false_rollback * false_rollbacks + costs.missed_incident * missed
                         + costs.harmed_request * runs["harmed"][~runs["environment"]].sum()) / len(runs),
            })
        table = pd.DataFrame(rows)
        table["false_rollback_rate"] = _rate(table["false_rollbacks"], table["healthy_runs"])
        table["false_rollback_low"], table["false_rollback_high"] = wilson(table["false_rollbacks"],
                                                                           table["healthy_runs"])
        table["missed_incident_rate"] = _rate(table["missed_incidents"], table["incident_runs"])
        table["missed_incident_low"], table["missed_incident_high"] = wilson(table["missed_incidents"],
                                                                             table["incident_runs"])
        table["environment_stop_rate"] = _rate(table["environment_stops"], table["environment_runs"])
        table["environment_stop_low"], table["environment_stop_high"] = wilson(table["environment_stops"],
                                                                               table["environment_runs"])
        table["recall"] = _rate(table["caught"], table["incident_runs"])
        table["pareto"] = pareto_front(table["false_rollback_rate"], table["missed_incident_rate"])
        changes = self.meta.get("changes")
        table["changes"] = changes if isinstance(changes, list) and len(changes) == len(table) else np.nan
        table["cost_optimal"] = np.arange(len(table)) == recommended(table)
        return self.grid.merge(table, on="gate")

    def best(self, costs: Optional[Costs] = None) -> pd.Series:
        """The recommended gate: the cost-optimal one, ties broken by :data:`RECOMMENDATION_RULE`."""
        summary = self.summary(costs)
        return summary[summary["cost_optimal"]].iloc[0]

    def breakdown(self) -> pd.DataFrame:
        """Per gate and scenario: runs, whether the scenario is an incident or an environment incident (ground
        truth), stops (hold or rollback), false rollbacks (stops of a healthy scenario), missed incidents and
        environment stops. Sums to the totals."""
        runs = self.runs
        stopped = runs["decision"].isin(["hold", "rollback"])
        healthy = ~runs["incident"] & ~runs["environment"]
        table = (runs.assign(stops=stopped, false_rollbacks=stopped & healthy,
                             missed_incidents=~stopped & runs["incident"], incident_runs=runs["incident"],
                             environment_runs=runs["environment"], environment_stops=stopped & runs["environment"])
                 .groupby(["gate", "scenario"], sort=True)
                 .agg(runs=("replicate", "size"), incident_runs=("incident_runs", "sum"),
                      environment_runs=("environment_runs", "sum"), stops=("stops", "sum"),
                      false_rollbacks=("false_rollbacks", "sum"), missed_incidents=("missed_incidents", "sum"),
                      environment_stops=("environment_stops", "sum"))
                 .reset_index())
        table["incident"] = table["incident_runs"] > 0
        table["environment"] = table["environment_runs"] > 0
        return table

    def breakdown_notes(self, gate: int) -> list[str]:
        """What drives ``gate``'s false rollbacks: each scenario the SLO calls healthy (other than ``healthy``
        itself) that makes up at least half of them, said in words."""
        rows = self.breakdown()
        rows = rows[rows["gate"] == gate]
        total = int(rows["false_rollbacks"].sum())
        drivers = rows[(rows["scenario"] != "healthy") & (rows["false_rollbacks"] * 2 >= total)
                       & (rows["false_rollbacks"] > 0)].sort_values("false_rollbacks", ascending=False)
        return [f"the SLO does not count {row.scenario} as an incident, yet {row.false_rollbacks} of the {total} "
                f"false rollbacks are stops of it: tighten the SLO if it is one, or accept that the gate stops it"
                for row in drivers.itertuples()]

    def best_plan(self, plan: Plan, costs: Optional[Costs] = None) -> Plan:
        """The recommended gate as a whole plan: ``plan`` (the swept one) with its grid values."""
        from rampsim.plan.loader import with_overrides

        best = self.best(costs)
        return with_overrides(plan, {path: best[path] for path in self.parameters})

    def _repr_html_(self) -> str:
        summary = self.summary()
        shown = [*self.parameters, "false_rollback_rate", "missed_incident_rate", "environment_stop_rate",
                 "detect_median_s", "harm_mean", "pareto"]
        return (f"<p><b>Sweep</b> of {self.meta.get('plan', 'a plan')}: {len(self.grid)} gates × "
                f"{self.meta.get('replicates', '?')} replicates ({len(self.runs)} judged runs)</p>"
                + summary[shown].to_html(index=False, float_format=lambda x: f"{x:.4g}"))

    # -- files -------------------------------------------------------------------------

    def costs(self) -> Costs:
        """The costs the sweep was reported with (``meta['costs']``), else the defaults."""
        return Costs(**self.meta.get("costs", {}))

    def save(self, directory: Path) -> None:
        directory = output_directory(Path(directory))
        with writing(directory):
            self.runs.to_csv(directory / "runs.csv.gz", index=False)
            self.grid.to_csv(directory / "grid.csv", index=False)
            (directory / "sweep.json").write_text(json.dumps(self.meta, indent=2, default=str))

    @classmethod
    def load(cls, directory: Path) -> "SweepResult":
        """The results saved in ``directory``; :class:`DataUnavailable` naming the file that cannot be read."""
        directory = Path(directory)
        if not directory.is_dir():
            problem = "not a directory" if directory.exists() else "no such directory"
            raise DataUnavailable(f"{directory}: {problem} (expected a sweep's results directory)")
        missing = [name for name in ("runs.csv.gz", "grid.csv", "sweep.json") if not (directory / name).exists()]
        if missing:
            raise DataUnavailable(f"{directory}: not a sweep's results (missing {', '.join(missing)})")
        runs = _with_environment(_read(directory / "runs.csv.gz",
                                       lambda path: pd.read_csv(path, keep_default_na=False, na_values=[""])))
        grid = _read(directory / "grid.csv", lambda path: pd.read_csv(path, dtype=str).astype({"gate": int}))
        meta = _read(directory / "sweep.json", lambda path: json.loads(path.read_text()))
        if not isinstance(meta, dict):
            raise DataUnavailable(f"{directory / 'sweep.json'}: expected a JSON object, found {type(meta).__name__}")
        _check_runs(runs, directory / "runs.csv.gz")
        if sorted(set(runs["gate"])) != sorted(grid["gate"]):
            raise DataUnavailable(f"{directory / 'grid.csv'}: its gates are not those of runs.csv.gz")
        runs["source"] = runs["source"].fillna("")
        result = cls(runs, grid, meta)
        try:
            result.costs()
        except (TypeError, UsageError) as exc:
            raise DataUnavailable(f"{directory / 'sweep.json'}: costs: {exc}") from None
        return result


def _read(path: Path, reader: Callable[[Path], _T]) -> _T:
    """``reader(path)``, a file that cannot be read or parsed reported as :class:`DataUnavailable`."""
    try:
        return reader(path)
    except (OSError, EOFError, ValueError, KeyError, zlib.error) as exc:  # parse errors, bad UTF-8, no column
        raise DataUnavailable(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None


def _with_environment(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with an ``environment`` column: runs of a rampsim before attribution, which has none, counted
    every breach of the SLO as an incident (``False`` throughout)."""
    return runs if "environment" in runs else runs.assign(environment=False)


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
