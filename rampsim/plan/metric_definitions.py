"""Metric definitions: everything rampsim knows about one metric, in one class.

A metric is a subclass of :class:`MetricDefinition`, registered under its name with
:func:`register` (the scipy.stats pattern: the base class does the work every metric
shares, a subclass overrides what makes its metric different). The class says how a
plan writes the metric (the parameters it takes, its unit and the thresholds that make
sense, its label) and how it is computed (the counter groups or gauge it reads, its
vectorized and per-scrape finish, its PromQL). The plan schema validates a measurement
with :meth:`MetricDefinition.check`; the engine, the compiled judge and
``rampsim explain --promql`` dispatch to the definition. So adding a metric is writing
one class: nothing else changes (``tests/test_metric_definitions.py`` registers one). A
metric rampsim ships also has its name in :class:`Metric`, beside its class, so that
code and type checkers can name it.

A *comparison* (``compare: baseline``) measures a metric on the canary and on the baseline
and contrasts the two: :data:`CONTRASTS` are the ways (a difference in the metric's unit, a
ratio, a relative change), :func:`contrast` and :func:`contrast_scalar` compute one on arrays
and on plain floats with identical floats (IEEE division, as PromQL's ``/``: a baseline of 0
gives ``+Inf`` against a positive canary and ``NaN`` against 0), :func:`contrast_promql`
writes it. A definition says whether its metric can be compared
(:meth:`MetricDefinition.comparison_refusal`) and which anytime-valid sequential test, if any,
judges it (:attr:`MetricDefinition.sequential`).

The definitions live at the plan layer, computation included, because the plan schema
needs them to validate and the engine (above it) to compute: one class can serve both
only below both. They read telemetry through :class:`~rampsim.telemetry.Layout` and
compute with :mod:`rampsim.plan.functions`; they never import the engine.
"""
from __future__ import annotations

import enum
import math
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Optional, Sequence

import numpy as np

from rampsim.plan.functions import (
    NAN, avg_over_time, chi2_p_value, histogram_quantile, histogram_quantile_scalar, max_over_time, ratio, ratio_scalar,
    slope_per_hour, windows,
)
from rampsim.telemetry import COUNTER_FAMILIES, Layout
from rampsim.units import Kind, UnitError, ascii_digits, format_value, parse, parse_duration, unitless

if TYPE_CHECKING:
    from rampsim.plan.schema import Measurement

__all__ = ["Metric", "MetricDefinition", "QueryParts", "Group", "ScalarFinisher", "PARAMETERS", "CONTRASTS",
           "register", "unregister", "definition_of", "metric_names", "resolve_alias", "contrast", "contrast_scalar",
           "contrast_promql"]

Group = tuple[int, ...]
"""Counter channels summed into one aggregate column (for example the canary's errors in every segment)."""

ScalarFinisher = Callable[[Sequence[float], float], float]
"""A per-scrape finish: the value from a list of window increases and the window's length in seconds."""


class Metric(str, enum.Enum):
    """The metrics rampsim ships, each with its :class:`MetricDefinition`.

    A metric registered at run time (:func:`register`) is a ``Metric`` too: its member
    is made on first use, as :class:`enum.Flag` makes combinations, and is not listed
    when iterating.
    """

    ERROR_RATE = "error_rate"
    LATENCY = "latency"
    AVAILABILITY = "availability"
    SEGMENT_SPREAD = "segment_spread"
    CPU = "cpu"
    MEMORY = "memory"
    NETWORK = "network"
    CACHE_HIT_RATE = "cache_hit_rate"
    MEMORY_GROWTH = "memory_growth"
    REQUEST_RATE = "request_rate"
    REVENUE_RATE = "revenue_rate"
    REVENUE_DELTA = "revenue_delta"
    ALERTS = "alerts"

    @classmethod
    def _missing_(cls, value: object) -> Optional["Metric"]:
        if not (isinstance(value, str) and value in _DEFINITIONS):
            return None
        if value not in cls._value2member_map_:
            member = str.__new__(cls, value)
            member._name_, member._value_ = value.upper(), value
            cls._value2member_map_[value] = member
        return cls(value)


PARAMETERS: dict[str, str] = {
    "quantile": "latency",
    "definition": "segment_spread",
    "agg": "gauges (cpu, memory, network)",
    "alert_severity": "the alerts metric",
}
"""The metric parameters a measurement may set, in the order they are checked, with what each applies to."""

CONTRASTS: dict[str, Kind | None] = {"difference": None, "ratio": Kind.NUMBER, "relative": Kind.RATIO}
"""How a comparison contrasts the canary's value with the baseline's (``as:``), with the unit of the result: a
``difference`` (canary − baseline) is in the metric's own unit (``None``), a ``ratio`` (canary / baseline) a plain
number, a ``relative`` change (canary / baseline − 1) a percentage."""


def contrast(how: str, canary: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """The canary's values against the baseline's, elementwise (see :data:`CONTRASTS`); ``NaN`` stays ``NaN``."""
    if how == "difference":
        return canary - baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = canary / baseline
    return quotient - 1.0 if how == "relative" else quotient


def contrast_scalar(how: str, canary: float, baseline: float) -> float:
    """:func:`contrast` on plain floats, giving identical floats (a zero baseline divides as IEEE does)."""
    if how == "difference":
        return canary - baseline
    if baseline == 0.0:
        quotient = canary * math.copysign(math.inf, baseline) if canary == canary and canary != 0.0 else NAN
    else:
        quotient = canary / baseline
    return quotient - 1.0 if how == "relative" else quotient


def contrast_promql(how: str, canary: str, baseline: str) -> str:
    """The PromQL contrasting the ``canary`` query with the ``baseline`` one; ``on()`` matches the two
    single-element vectors whatever labels (the arm's) they keep."""
    query = f"({canary}) {'-' if how == 'difference' else '/'} on() ({baseline})"
    return f"{query} - 1" if how == "relative" else query


class QueryParts:
    """What a definition writes its PromQL from, in the service's metric and label names.

    ``window`` is the range (``"15m"``); :meth:`increase` is a summed ``increase`` of a
    counter family over it, :meth:`gauge` a gauge family's series, both on the
    measurement's arm (and segment).
    """

    def __init__(self, measurement: "Measurement", window: str, names: Mapping[str, str], arm_label: str,
                 segment_label: str) -> None:
        self.measurement = measurement
        self.window = window
        self.names = names
        self.arm_label = arm_label
        self.segment_label = segment_label

    def increase(self, family: str, by: str = "", arm: Optional[str] = None) -> str:
        """``sum by (by)(increase(family{arm, segment}[window]))``; ``arm`` replaces the measurement's."""
        m = self.measurement
        selector = f'{self.arm_label}="{arm or m.arm}"' + (f',{self.segment_label}="{m.segment}"' if m.segment else "")
        grouping = f" by ({by})" if by else ""
        return f"sum{grouping}(increase({self.names[family]}{{{selector}}}[{self.window}]))"

    def gauge(self, family: str) -> str:
        """The gauge family's series on the measurement's arm."""
        return f'{self.names[family]}{{{self.arm_label}="{self.measurement.arm}"}}'


class MetricDefinition:
    """One metric: how a plan writes it and how it is computed.

    The base class checks a measurement's parameters (producing the messages ``rampsim
    validate`` prints), reads a threshold in the metric's unit within its bounds, and
    leaves the rest to the subclass, which sets these attributes:

    ``name``
        The metric's name in a plan (``metric: error_rate``); the value of its :class:`Metric`.
    ``unit``
        The :class:`~rampsim.units.Kind` of its values, in which a threshold is written.
    ``bounds``
        ``(low, high)``: the values it can take; a threshold outside is refused
        (message: :meth:`out_of_range`). Default: any value.
    ``parameters``
        The parameters of :data:`PARAMETERS` it takes, each with the message given when
        it is missing (``None``: optional). Any other parameter is refused.
    ``aliases``
        Other names for it with parameters set: ``{"p99": {"quantile": 0.99}}``.
    ``per_segment``, ``trend_allowed``, ``peak_allowed``
        Whether a measurement may select one segment, judge a trend (the ratio to the
        window before) and take a peak (the worst sub-window). Default: all three.
    ``gauge``
        The gauge family it reads (a gauge metric), else ``None`` (a counter metric).
    ``from_telemetry``
        ``False`` for a metric the engine counts itself (the rules' alerts).
    ``sequential``
        The anytime-valid sequential test that judges a comparison of it (``test:
        sequential``): ``"count"`` (error counts) or ``"latency"`` (a quantile's log ratio);
        ``None``: none does.

    and overrides these methods (each documented below):

    * :meth:`label`: its short name (default: the name, with spaces);
    * :meth:`counter_groups`, :meth:`finish` and :meth:`scalar_finisher` (a counter
      metric): the groups of counter channels whose window increases it reads, and the
      value from those increases, vectorized and per scrape, with identical floats;
    * :meth:`over_windows` and, if it can be read at one scrape, :meth:`reads_latest`
      (a gauge metric): the value over windows of the gauge's samples;
    * :meth:`promql`: the query that gives the same number;
    * :meth:`check_parameter` or :meth:`check`, to refuse more than the generic checks do;
    * :meth:`comparison_refusal`, if the metric cannot be compared with the baseline.

    Register a definition with :func:`register`; the schema, engine and PromQL find it
    with :func:`definition_of`.
    """

    name: ClassVar[str]
    unit: ClassVar[Kind]
    bounds: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    parameters: ClassVar[Mapping[str, Optional[str]]] = {}
    aliases: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    per_segment: ClassVar[bool] = True
    trend_allowed: ClassVar[bool] = True
    peak_allowed: ClassVar[bool] = True
    gauge: ClassVar[Optional[str]] = None
    from_telemetry: ClassVar[bool] = True
    sequential: ClassVar[Optional[str]] = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- the plan ------------------------------------------------------------------

    def check(self, m: "Measurement") -> None:
        """Raise ``ValueError`` if ``m``'s parameters, segment, trend or peak do not fit the metric."""
        for parameter in PARAMETERS:
            self.check_parameter(m, parameter)
        if m.segment is not None and not self.per_segment:
            raise ValueError(f"{self.name} is measured per arm, not per segment; drop 'segment'")
        if m.trend and not self.trend_allowed:
            raise ValueError(f"a trend of {self.name} is not supported")
        if m.trend and m.window.kind.value == "cumulative":
            raise ValueError("a trend compares a window with the one before it; a cumulative window has none")
        if m.peak is not None and m.window.kind.value == "rolling" and m.peak > m.window.seconds:
            raise ValueError("'peak' sub-windows must be shorter than the window")
        if m.peak is not None and (m.trend or not self.peak_allowed):
            raise ValueError(f"'peak' applies to counter metrics, not to {self.name}" + (" trends" if m.trend else ""))
        if m.compare is not None:
            self.check_comparison(m)

    def check_comparison(self, m: "Measurement") -> None:
        """Raise ``ValueError`` if ``m``, a comparison with the baseline, does not fit the metric."""
        refusal = self.comparison_refusal(m)
        if refusal is not None:
            raise ValueError(refusal)
        if m.test is not None and self.sequential is None:
            tested = ", ".join(sorted(d.name for d in _DEFINITIONS.values() if d.sequential))
            raise ValueError(f"no sequential test judges {self.name}; one does for {tested}")
        if m.contrast in ("ratio", "relative") and self.bounds[0] < 0:
            raise ValueError(f"{self.name} can be negative, so a ratio of two values means nothing: "
                             f"compare as: difference")
        if m.min_requests is not None and self.gauge is not None:
            raise ValueError(f"{self.name} is read from a gauge, not from requests: drop min_requests")

    def comparison_refusal(self, m: "Measurement") -> Optional[str]:
        """Why ``m`` cannot compare the metric on its arm with the baseline's, or ``None`` if it can."""
        if not self.from_telemetry:
            return f"{self.name} is counted by the engine for the whole plan: no arm to compare"
        return None

    def check_parameter(self, m: "Measurement", parameter: str) -> None:
        """Raise ``ValueError`` if ``parameter`` is missing but required, or set but not taken."""
        if parameter not in self.parameters:
            if getattr(m, parameter) is not None:
                raise ValueError(f"{parameter!r} applies to {PARAMETERS[parameter]}, not to {self.name}")
        elif getattr(m, parameter) is None and self.parameters[parameter] is not None:
            raise ValueError(self.parameters[parameter])

    def bounds_for(self, definition: Optional[str]) -> tuple[float, float]:
        """The values the metric takes under ``definition`` (a measure's ``definition`` parameter)."""
        return self.bounds

    def read_threshold(self, value: Any, trend: bool, how: Optional[str] = None,
                       definition: Optional[str] = None) -> float:
        """A threshold as written in a plan, in base units: in the metric's unit (a plain ratio for a trend) and
        within its bounds (a trend's threshold, a ratio of two values, has none). A comparison's (``how``, one of
        :data:`CONTRASTS`) is in its contrast's unit: a difference lies within the width of the bounds, a ratio
        is not negative, a relative change not below -100%. Raises ``ValueError``."""
        kind = (CONTRASTS[how] if how is not None else None) or self.unit
        try:
            threshold = parse(value, Kind.NUMBER if trend else kind)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
        low, high = self.bounds_for(definition)
        if how == "difference" and not -(high - low) <= threshold <= high - low:
            raise ValueError(self.difference_out_of_range(value, (low, high)))
        if how in ("ratio", "relative") and not threshold >= (0.0 if how == "ratio" else -1.0):
            raise ValueError(f"{value!r} is out of range: a {how} of two {self.name} values is not below "
                             f"{'0' if how == 'ratio' else '-100%'}")
        if how is None and not (trend and self.trend_allowed) and not low <= threshold <= high:
            raise ValueError(self.out_of_range(value, definition))
        return threshold

    def difference_out_of_range(self, value: Any, bounds: tuple[float, float]) -> str:
        """The message for a difference threshold ``value`` wider than the metric's ``bounds`` allow."""
        low, high = bounds
        return (f"{value!r} is out of range: a difference of two {self.name} values lies between "
                f"{format_value(low - high, self.unit)} and {format_value(high - low, self.unit)}")

    def out_of_range(self, value: Any, definition: Optional[str] = None) -> str:
        """The message for a threshold ``value`` outside the metric's bounds."""
        low, high = self.bounds_for(definition)
        if (low, high) == (0.0, math.inf):
            return f"{value!r} is out of range: must not be negative"
        return (f"{value!r} is out of range for {self.name}: expected between {format_value(low, self.unit)} and "
                f"{format_value(high, self.unit)}")

    def label(self, m: "Measurement") -> str:
        """The metric's short name in ``m``'s label, e.g. ``error rate`` or ``P99 latency``."""
        return self.name.replace("_", " ")

    def reads_latest(self, m: "Measurement") -> bool:
        """Whether ``m`` is read at its latest scrape alone (its window plays no part)."""
        return False

    # -- computation -----------------------------------------------------------------

    def counter_groups(self, layout: Layout, m: "Measurement") -> list[Group]:
        """The counter channel groups whose window increases :meth:`finish` reads, in order (none for a gauge)."""
        return []

    def finish(self, m: "Measurement", upper_bounds: Sequence[float], increase: np.ndarray,
               seconds: np.ndarray) -> np.ndarray:
        """The value from the groups' window increases ``(windows, groups)`` over ``seconds``-long windows;
        ``NaN`` where there is no traffic."""
        raise ValueError(f"{self.name} has no counter finish")

    def scalar_finisher(self, m: "Measurement", upper_bounds: Sequence[float],
                        columns: Sequence[int]) -> ScalarFinisher:
        """:meth:`finish` for one window on plain floats, giving identical floats: a function of
        ``(increases, seconds)`` in which ``columns`` are the groups, in :meth:`counter_groups` order."""
        raise ValueError(f"{self.name} has no counter finish")

    def over_windows(self, m: "Measurement", column: np.ndarray, times: np.ndarray, start: np.ndarray,
                     end: np.ndarray) -> np.ndarray:
        """A gauge metric's value over each window ``[start, end]`` of its gauge's samples ``column``, as PromQL's
        range functions give it: from the samples present, a missing one (``NaN``) left out wherever it is in the
        window (``NaN`` only when too few are present: :mod:`rampsim.plan.functions`)."""
        raise ValueError(f"{self.name} reads no gauge")

    def per_scrape(self, m: "Measurement") -> bool:
        """Whether the engine can compute ``m`` at each scrape from one rolling increase or gauge sample."""
        return self.from_telemetry and (self.gauge is None or self.reads_latest(m))

    def promql(self, m: "Measurement", q: QueryParts) -> str:
        """The PromQL query that gives ``m``'s value over the range ``q.window``."""
        raise NotImplementedError(f"{self.name} has no PromQL")

    # -- helpers for subclasses ----------------------------------------------------------

    @staticmethod
    def segments(layout: Layout, m: "Measurement") -> Sequence[int]:
        """The segments ``m`` selects: its segment, or all."""
        return range(len(layout.segments)) if m.segment is None else [layout.segment(m.segment)]

    def counters(self, layout: Layout, m: "Measurement", family: str, segments: Optional[Sequence[int]] = None,
                 arm: Optional[str] = None) -> Group:
        """The group of ``family``'s channels on ``m``'s arm (or ``arm``) and segments (or ``segments``)."""
        on_arm = layout.arm(arm or m.arm)
        if "segments" not in COUNTER_FAMILIES[family]:
            return (int(layout.channels(family, on_arm)),)
        return tuple(int(layout.channels(family, on_arm, s)) for s in
                     (self.segments(layout, m) if segments is None else segments))


_DEFINITIONS: dict[str, MetricDefinition] = {}


def register(definition: type[MetricDefinition]) -> type[MetricDefinition]:
    """Register a metric: ``definition`` (a class; usable as a decorator) under its ``name``, and its aliases."""
    instance = definition()
    taken = set(metric_names())
    for name in (instance.name, *instance.aliases):
        if name in taken:
            raise ValueError(f"a metric or alias named {name!r} is already registered")
    _DEFINITIONS[instance.name] = instance
    return definition


def unregister(name: str) -> None:
    """Forget the metric ``name`` registered at run time (a metric rampsim ships stays)."""
    if name in {metric.value for metric in Metric} or name not in _DEFINITIONS:
        raise ValueError(f"{name!r} is not a metric registered at run time")
    del _DEFINITIONS[name]
    Metric._value2member_map_.pop(name, None)


def definition_of(metric: Metric | str) -> MetricDefinition:
    """The definition of ``metric`` (a :class:`Metric` or its name)."""
    return _DEFINITIONS[metric.value if isinstance(metric, Metric) else metric]


def metric_names() -> list[str]:
    """Every name a plan may write as a metric: the metrics, then their aliases."""
    return [*_DEFINITIONS, *(alias for d in _DEFINITIONS.values() for alias in d.aliases)]


def resolve_alias(name: str) -> Optional[tuple[str, Mapping[str, Any]]]:
    """``(metric, parameters)`` if ``name`` is an alias (``p99``: ``("latency", {"quantile": 0.99})``)."""
    for definition in _DEFINITIONS.values():
        if name in definition.aliases:
            return definition.name, definition.aliases[name]
    return None


# -- the metrics rampsim ships, in Metric order ------------------------------------------------


class CounterRatio(MetricDefinition):
    """A ratio of two counters' increases: ``numerator / denominator`` (set both family names)."""

    numerator: ClassVar[str]
    denominator: ClassVar[str]
    unit = Kind.RATIO
    bounds = (0.0, 1.0)

    def counter_groups(self, layout: Layout, m: "Measurement") -> list[Group]:
        return [self.counters(layout, m, self.numerator), self.counters(layout, m, self.denominator)]

    def finish(self, m: "Measurement", upper_bounds: Sequence[float], increase: np.ndarray,
               seconds: np.ndarray) -> np.ndarray:
        return ratio(increase[:, 0], increase[:, 1])

    def scalar_finisher(self, m: "Measurement", upper_bounds: Sequence[float],
                        columns: Sequence[int]) -> ScalarFinisher:
        num, den = columns
        return lambda inc, seconds: inc[num] / inc[den] if inc[den] > 0 else NAN

    def promql(self, m: "Measurement", q: QueryParts) -> str:
        return f"{q.increase(self.numerator)} / {q.increase(self.denominator)}"


@register
class ErrorRate(CounterRatio):
    """Errors over requests."""

    name = "error_rate"
    numerator, denominator = "errors", "requests"
    sequential = "count"


@register
class Latency(MetricDefinition):
    """A quantile of request durations, interpolated from the classic histogram (``histogram_quantile``)."""

    name = "latency"
    unit = Kind.DURATION
    bounds = (0.0, math.inf)
    parameters = {"quantile": "metric 'latency' needs a quantile (or write p50, p95, p99, p999)"}
    aliases = {"p50": {"quantile": 0.5}, "p90": {"quantile": 0.9}, "p95": {"quantile": 0.95},
               "p99": {"quantile": 0.99}, "p999": {"quantile": 0.999}}
    sequential = "latency"

    def label(self, m: "Measurement") -> str:
        assert m.quantile is not None  # the check requires it
        return f"P{m.quantile * 100:g} latency"

    def counter_groups(self, layout: Layout, m: "Measurement") -> list[Group]:
        arm = layout.arm(m.arm)
        per_segment = [layout.channels("latency_bucket", arm, s) for s in self.segments(layout, m)]
        return [tuple(int(c[b]) for c in per_segment) for b in range(len(layout.latency_buckets))]

    def finish(self, m: "Measurement", upper_bounds: Sequence[float], increase: np.ndarray,
               seconds: np.ndarray) -> np.ndarray:
        assert m.quantile is not None  # the check requires it
        return histogram_quantile(m.quantile, upper_bounds, increase)

    def scalar_finisher(self, m: "Measurement", upper_bounds: Sequence[float],
                        columns: Sequence[int]) -> ScalarFinisher:
        q, c = m.quantile, list(columns)
        assert q is not None  # the check requires it
        if c == list(range(c[0], c[0] + len(c))):  # the buckets' groups are contiguous: slice, do not gather
            first, stop = c[0], c[0] + len(c)
            return lambda inc, seconds: histogram_quantile_scalar(q, upper_bounds, inc[first:stop])
        return lambda inc, seconds: histogram_quantile_scalar(q, upper_bounds, [inc[i] for i in c])

    def promql(self, m: "Measurement", q: QueryParts) -> str:
        return f"histogram_quantile({m.quantile:g}, {q.increase('latency_bucket', 'le')})"


@register
class Availability(CounterRatio):
    """Passed health checks over all health checks."""

    name = "availability"
    numerator, denominator = "health_checks_ok", "health_checks"
    per_segment = False


@register
class SegmentSpread(MetricDefinition):
    """How far the segments' error rates are apart: ``absolute`` (max − min), ``relative`` ((max − min) / mean)
    or ``chi2`` (the p-value of a test that all segments share one rate)."""

    name = "segment_spread"
    unit = Kind.RATIO
    bounds = (0.0, 1.0)
    parameters = {"definition": "segment_spread needs a definition: absolute (max-min, in points), "
                                "relative (max-min over the mean) or chi2 (p-value of homogeneity)"}
    per_segment = False

    def check_parameter(self, m: "Measurement", parameter: str) -> None:
        super().check_parameter(m, parameter)
        if parameter == "definition" and m.segment is not None:
            raise ValueError("segment_spread compares all segments; drop 'segment'")

    def bounds_for(self, definition: Optional[str]) -> tuple[float, float]:
        """A relative spread, (max − min) / mean, reaches the number of segments (one segment has every error): the
        plan, which knows them, narrows these bounds (:meth:`~rampsim.plan.schema.Plan._relative_spreads_reachable`)."""
        return (0.0, math.inf) if definition == "relative" else self.bounds

    def label(self, m: "Measurement") -> str:
        return f"segment spread ({m.definition})"

    def comparison_refusal(self, m: "Measurement") -> Optional[str]:
        if m.definition == "chi2":
            return ("a chi2 segment spread is a p-value, not an amount to compare: compare an absolute or "
                    "relative spread")
        return super().comparison_refusal(m)

    def counter_groups(self, layout: Layout, m: "Measurement") -> list[Group]:
        return [g for s in range(len(layout.segments))
                for g in (self.counters(layout, m, "errors", [s]), self.counters(layout, m, "requests", [s]))]

    def finish(self, m: "Measurement", upper_bounds: Sequence[float], increase: np.ndarray,
               seconds: np.ndarray) -> np.ndarray:
        column = [increase[:, i] for i in range(increase.shape[1])]
        errors, requests = column[0::2], column[1::2]
        rates = [ratio(e, r) for e, r in zip(errors, requests)]
        high, low, total = rates[0], rates[0], rates[0]
        for rate in rates[1:]:
            high, low, total = np.maximum(high, rate), np.minimum(low, rate), total + rate
        if m.definition == "absolute":
            return high - low
        if m.definition == "relative":
            mean = total / len(rates)
            return np.where(mean > 0, ratio(high - low, mean), np.where(mean == 0, 0.0, np.nan))
        return np.where(np.isnan(total), np.nan, chi2_p_value(errors, requests))

    def scalar_finisher(self, m: "Measurement", upper_bounds: Sequence[float],
                        columns: Sequence[int]) -> ScalarFinisher:
        definition, error_columns, request_columns = m.definition, columns[0::2], columns[1::2]
        assert definition is not None  # the check requires it

        def spread(inc: Sequence[float], seconds: float) -> float:
            rates = []
            for e, r in zip(error_columns, request_columns):
                rate = inc[e] / inc[r] if inc[r] > 0 else NAN
                if rate != rate:
                    return NAN
                rates.append(rate)
            high, low = max(rates), min(rates)
            if definition == "absolute":
                return high - low
            if definition == "relative":
                mean = sum(rates) / len(rates)  # ((0 + r0) + r1) + ...: the order the vectorized finish adds in
                return ratio_scalar(high - low, mean) if mean > 0 else 0.0
            return float(chi2_p_value([np.array([inc[e]]) for e in error_columns],
                                      [np.array([inc[r]]) for r in request_columns])[0])

        return spread

    def promql(self, m: "Measurement", q: QueryParts) -> str:
        errors, requests = q.increase("errors", q.segment_label), q.increase("requests", q.segment_label)
        per_segment = f"({errors} / {requests})"
        spread = f"(max({per_segment}) - min({per_segment}))"
        if m.definition == "absolute":
            return spread
        if m.definition == "relative":
            return f"{spread} / avg({per_segment})"
        return (f"# chi-square test of homogeneity across segments on {errors} "
                f"and {requests}: computed by rampsim from these two vectors")


class Utilisation(MetricDefinition):
    """A utilisation gauge, a fraction of capacity: its latest sample, or its average or maximum over the window's
    present samples (``agg``)."""

    unit = Kind.RATIO
    bounds = (0.0, 1.0)
    parameters = {"agg": None}
    per_segment = False
    peak_allowed = False

    def reads_latest(self, m: "Measurement") -> bool:
        return (m.agg or "last") == "last"

    def over_windows(self, m: "Measurement", column: np.ndarray, times: np.ndarray, start: np.ndarray,
                     end: np.ndarray) -> np.ndarray:
        agg = m.agg or "last"
        if agg == "last":
            return column[end]
        return windows(column, times, start, end, avg_over_time if agg == "avg" else max_over_time)

    def promql(self, m: "Measurement", q: QueryParts) -> str:
        agg = m.agg or "last"
        assert self.gauge is not None  # every utilisation metric reads its gauge
        series = q.gauge(self.gauge)
        return series if agg == "last" else f"{agg}_over_time({series}[{q.window}])"


@register
class Cpu(Utilisation):
    name = gauge = "cpu"


@register
class Memory(Utilisation):
    name = gauge = "memory"


@register
class Network(Utilisation):
    name = gauge = "network"


@register
class CacheHitRate(MetricDefinition):
    """Cache hits over hits and misses."""

    name = "cache_hit_rate"
    unit = Kind.RATIO
    bounds = (0.0, 1.0)
    per_segment = False

    def counter_groups(self, layout: Layout, m: "Measurement") -> list[Group]:
        return [self.counters(layout, m, "cache_hits"), self.counters(layout, m, "cache_misses")]

    def finish(self, m: "Measurement", upper_bounds: Sequence[float], increase: np.ndarray,
               seconds: np.ndarray) -> np.ndarray:
        return ratio(increase[:, 0], increase[:, 0] + increase[:, 1])

    def scalar_finisher(self, m: "Measurement", upper_bounds: Sequence[float],
                        columns: Sequence[int]) -> ScalarFinisher:
        hits, misses = columns
        return lambda inc, seconds: ratio_scalar(inc[hits], inc[hits] + inc[misses])

    def promql(self, m: "Measurement", q: QueryParts) -> str:
        return f"{q.increase('cache_hits')} / ({q.increase('cache_hits')} + {q.increase('cache_misses')})"


@register
class MemoryGrowth(MetricDefinition):
    """The least-squares slope of resident memory over the window's present samples (at least two), per hour
    (PromQL ``deriv``)."""

    name = "memory_growth"
    unit = Kind.BYTES_PER_HOUR
    per_segment = False
    peak_allowed = False
    gauge = "memory_bytes"

    def over_windows(self, m: "Measurement", column: np.ndarray, times: np.ndarray, start: np.ndarray,
                     end: np.ndarray) -> np.ndarray:
        return windows(column, times, start, end, slope_per_hour)

    def promql(self, m: "Measurement", q: QueryParts) -> str:
        return f"deriv({q.gauge('memory_bytes')}[{q.window}]) * 3600"


class CounterRate(MetricDefinition):
    """A counter's increase per unit of time: per ``seconds_per_unit`` seconds (set ``family``, ``in_words``)."""

    family: ClassVar[str]
    seconds_per_unit: ClassVar[float]
    in_words: ClassVar[str]
    bounds = (0.0, math.inf)

    def comparison_refusal(self, m: "Measurement") -> Optional[str]:
        return (f"the arms' {self.name} values differ by their traffic split, not by the release: compare a rate "
                f"per request (error_rate, revenue_delta) instead")

    def counter_groups(self, layout: Layout, m: "Measurement") -> list[Group]:
        return [self.counters(layout, m, self.family)]

    def finish(self, m: "Measurement", upper_bounds: Sequence[float], increase: np.ndarray,
               seconds: np.ndarray) -> np.ndarray:
        return ratio(increase[:, 0], seconds / self.seconds_per_unit)

    def scalar_finisher(self, m: "Measurement", upper_bounds: Sequence[float],
                        columns: Sequence[int]) -> ScalarFinisher:
        column, per = columns[0], self.seconds_per_unit
        return lambda inc, seconds: ratio_scalar(inc[column], seconds / per)

    def promql(self, m: "Measurement", q: QueryParts) -> str:
        """The increase over the window divided by the window's length in the unit's time (a number: PromQL has no
        duration arithmetic)."""
        try:
            length = parse_duration(q.window) / self.seconds_per_unit
        except UnitError:   # a window PromQL writes otherwise: said in words
            return f"{q.increase(self.family)} / {q.window} (in {self.in_words})"
        return f"{q.increase(self.family)} / {length:g}"


@register
class RequestRate(CounterRate):
    """Requests per second."""

    name = "request_rate"
    unit = Kind.REQUESTS_PER_SECOND
    family, seconds_per_unit, in_words = "requests", 1.0, "seconds"


@register
class RevenueRate(CounterRate):
    """Dollars per minute."""

    name = "revenue_rate"
    unit = Kind.DOLLARS_PER_MINUTE
    family, seconds_per_unit, in_words = "revenue", 60.0, "minutes"


@register
class RevenueDelta(MetricDefinition):
    """Revenue per request on the arm over the baseline's, minus 1."""

    name = "revenue_delta"
    unit = Kind.RATIO
    bounds = (-1.0, math.inf)
    trend_allowed = False

    def out_of_range(self, value: Any, definition: Optional[str] = None) -> str:
        return f"{value!r} is out of range: revenue cannot fall by more than 100%"

    def comparison_refusal(self, m: "Measurement") -> Optional[str]:
        return "revenue_delta already compares the arm with the baseline: drop 'compare'"

    def counter_groups(self, layout: Layout, m: "Measurement") -> list[Group]:
        return [self.counters(layout, m, "revenue"), self.counters(layout, m, "requests"),
                self.counters(layout, m, "revenue", arm="baseline"),
                self.counters(layout, m, "requests", arm="baseline")]

    def finish(self, m: "Measurement", upper_bounds: Sequence[float], increase: np.ndarray,
               seconds: np.ndarray) -> np.ndarray:
        return ratio(ratio(increase[:, 0], increase[:, 1]), ratio(increase[:, 2], increase[:, 3])) - 1.0

    def scalar_finisher(self, m: "Measurement", upper_bounds: Sequence[float],
                        columns: Sequence[int]) -> ScalarFinisher:
        revenue, requests, base_revenue, base_requests = columns
        return lambda inc, seconds: ratio_scalar(ratio_scalar(inc[revenue], inc[requests]),
                                                 ratio_scalar(inc[base_revenue], inc[base_requests])) - 1.0

    def promql(self, m: "Measurement", q: QueryParts) -> str:
        return (f"({q.increase('revenue')} / {q.increase('requests')}) / "
                f"({q.increase('revenue', arm='baseline')} / {q.increase('requests', arm='baseline')}) - 1")


@register
class Alerts(MetricDefinition):
    """Alerts of at least ``alert_severity`` fired by the plan's own rules (counted by the engine)."""

    name = "alerts"
    unit = Kind.NUMBER
    bounds = (0.0, math.inf)   # a count: '>= 0' always holds
    parameters = {"alert_severity": "metric 'alerts' needs an alert_severity (warning or critical)"}
    per_segment = False
    trend_allowed = False
    peak_allowed = False
    from_telemetry = False

    def read_threshold(self, value: Any, trend: bool, how: Optional[str] = None,
                       definition: Optional[str] = None) -> float:
        """A count's threshold is a plain number (``0``, ``2``), written as YAML or as text: a unit is refused, as a
        latency's ``2%`` is (the metric's unit, ``Kind.NUMBER``, reads ``5%`` as 0.05 alerts: a trend's or a
        ratio's threshold may be written so)."""
        if isinstance(value, str) and unitless(value) is None:
            try:
                ascii_digits(value)
            except UnitError as exc:
                raise ValueError(str(exc)) from None
            raise ValueError(f"cannot read {value!r} as a count of alerts: expected a plain number such as 0 or 2 "
                             "(a count takes no unit)")
        return super().read_threshold(value, trend, how, definition)

    def label(self, m: "Measurement") -> str:
        return f"{m.alert_severity} alerts"

    def promql(self, m: "Measurement", q: QueryParts) -> str:
        return f'count(ALERTS{{alertstate="firing",severity="{m.alert_severity}"}})  # counted by the engine'
