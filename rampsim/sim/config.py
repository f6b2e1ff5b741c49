"""The ``traffic:`` section of a scenario: learners, segments, load and the service.

Every quantity is written with its unit (see :mod:`rampsim.units`) and stored in
base units. The defaults are the customer's runbook (500,000 learners, segments
A/B/C at 0.065%, 0.072%, 0.085% errors, canary load 1,250/s average and 2,100/s
peak, P99 46 ms, CPU 65%, memory 72%, network 58%, $2,450/min on the canary) plus
the choices the runbook leaves open, each named in a field description.

Calibration: the service's figures (``p99``, ``cpu``, ``memory``, ``network``,
``revenue``) hold *at normal load*, which is ``normal_load`` requests per second
on each instance. The latency model scales its service times so that the P99 that
a Prometheus ``histogram_quantile`` reads at normal load is exactly ``p99``.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from rampsim.engine.metrics import read_channels
from rampsim.plan.daily_shape import cycles_per_day, daily_minimum
from rampsim.plan.loader import PlanError
from rampsim.plan.schema import Plan
from rampsim.plan.sections import locate, plan_document, register_section, validate_section
from rampsim.units import (
    MAX_RATE, Count, Duration, Kind, MoneyPerMinute, Number, PositiveBytes, PositiveDuration, RelativeChange, Share,
    Unit, format_value,
)

__all__ = ["Segment", "Harmonic", "Load", "Service", "Bursts", "Latent", "HealthBlips", "Variability", "TrafficConfig",
           "traffic_config"]


MAX_INSTANCES = 10_000
"""The most instances an arm may have (each is simulated)."""

LoadRate = Annotated[float, Unit(Kind.REQUESTS_PER_SECOND, allow_low=False, high=MAX_RATE)]
"""Requests per second, more than zero and at most :data:`MAX_RATE`."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Segment(_Model):
    """A segment of learners: its share of the population and its base error rate."""

    share: Share
    error_rate: Share


class Harmonic(_Model):
    """A cycle that divides the day, added to a diurnal load's 24-hour cosine: its ``amplitude`` as a share of the
    daily average, and ``peak_at``, the clock time of one of its maxima."""

    amplitude: Share
    peak_at: Duration = 0.0

    @field_validator("peak_at")
    @classmethod
    def _clock_time(cls, value: float) -> float:
        if value >= 86400.0:
            raise ValueError("'peak_at' is a clock time of day, below 24:00 "
                             f"(not {format_value(value, Kind.DURATION)})")
        return value


class Load(_Model):
    """Requests per second from the whole population over the ramp window.

    ``flat``: ``average`` throughout. ``bursts``: a base rate with bursts at ``peak``
    lasting ``burst`` every ``every`` from ``first`` on, the base chosen so the
    window's mean is exactly ``average``. ``diurnal``: a 24-hour cosine whose daily
    mean is ``average`` and daily maximum ``peak`` at clock time ``peak_at``, the
    ramp starting at clock time ``start`` (the runbook's 14:00 UTC). A daily shape
    that is not a cosine (a business-hours plateau, a second evening peak) adds
    ``harmonics``: shorter cycles that divide the day, keyed by their period
    (``12h``, ``8h``, ``6h``, ...), each :class:`Harmonic` adding its ``amplitude``
    (a share of ``average``) around the same daily mean; ``peak`` and ``peak_at``
    then describe the 24-hour cycle alone.
    """

    shape: Literal["flat", "bursts", "diurnal"] = "flat"
    average: LoadRate
    peak: Optional[LoadRate] = None
    every: PositiveDuration = 1800.0
    burst: PositiveDuration = 120.0
    first: Duration = 1200.0
    start: Duration = 14 * 3600.0
    peak_at: Duration = 16 * 3600.0
    harmonics: dict[str, Harmonic] = Field(default_factory=dict)

    @field_validator("harmonics")
    @classmethod
    def _periods(cls, harmonics: dict[str, Harmonic]) -> dict[str, Harmonic]:
        seen: dict[int, str] = {}
        for period in harmonics:
            cycles = cycles_per_day(period)
            if cycles in seen:
                raise ValueError(f"harmonics {seen[cycles]!r} and {period!r} are one period: write it once")
            seen[cycles] = period
        return harmonics

    def cycles(self) -> list[tuple[int, float, float]]:
        """The daily shape as ``(cycles per day, amplitude as a share of average, clock time of a maximum)``:
        the 24-hour cosine first, then the harmonics (empty unless ``diurnal``)."""
        if self.shape != "diurnal" or self.peak is None:
            return []
        return [(1, self.peak / self.average - 1.0, self.peak_at)] + sorted(
            (cycles_per_day(period), h.amplitude, h.peak_at) for period, h in self.harmonics.items())

    @model_validator(mode="after")
    def _consistent(self) -> "Load":
        shape_of = {"first": "bursts", "every": "bursts", "burst": "bursts", "peak_at": "diurnal",
                    "harmonics": "diurnal"}
        unread = [name for name, shape in shape_of.items() if shape != self.shape and name in self.model_fields_set]
        if unread:
            raise ValueError(f"a {self.shape} load does not read {', '.join(repr(n) for n in unread)} (shape "
                             f"'{shape_of[unread[0]]}' does): drop {'it' if len(unread) == 1 else 'them'} or choose "
                             "that shape")
        for name in ("start", "peak_at"):
            if getattr(self, name) >= 86400.0:
                raise ValueError(f"'{name}' is a clock time of day, below 24:00 "
                                 f"(not {format_value(getattr(self, name), Kind.DURATION)})")
        if self.shape == "flat":
            if self.peak is not None and self.peak != self.average:
                raise ValueError("a flat load has no peak: drop 'peak' or choose shape 'bursts' or 'diurnal'")
            return self
        if self.peak is None:
            raise ValueError(f"shape {self.shape!r} needs a 'peak' rate")
        if self.peak <= self.average:
            raise ValueError(f"'peak' ({self.peak:g}/s) must be above 'average' ({self.average:g}/s)")
        if self.shape == "diurnal" and not self.harmonics and self.peak > 2 * self.average:
            raise ValueError("a diurnal cosine cannot peak above twice its daily average "
                             "(its trough would be negative)")
        if self.harmonics:
            lowest, at = daily_minimum(self.cycles())
            if lowest <= 0:
                raise ValueError(f"the daily shape (the 24-hour cosine and its harmonics) falls to {lowest:.3g} times "
                                 f"the average at {format_value(at, Kind.DURATION)} after midnight: the load would "
                                 "be negative; lower an amplitude")
        if self.shape == "bursts" and self.burst >= self.every:
            raise ValueError("'burst' must be shorter than 'every'")
        return self


class Service(_Model):
    """The service behind the router: instance pools and their behaviour at normal load."""

    instances: dict[str, Count] = Field(default_factory=lambda: {"baseline": 45, "canary": 5})
    workers: Count = Field(8, ge=1, le=256)
    normal_load: LoadRate = 250.0
    p99: PositiveDuration = 0.046
    cache_hit_rate: Share = 0.85
    timeout: PositiveDuration = 1.0
    restart: PositiveDuration = 30.0
    cpu: Share = 0.65
    cpu_idle: Share = 0.35
    memory: Share = 0.72
    memory_load_share: Share = 0.10
    memory_limit: PositiveBytes = 4 * 2.0**30
    network: Share = 0.58
    network_idle: Share = 0.20
    health_check_timeout: PositiveDuration = 1.0
    health_check_failure: Share = 1e-5
    unhealthy_after: Count = Field(2, ge=1, le=10)
    gauge_noise: Share = 0.01

    @field_validator("instances")
    @classmethod
    def _instances(cls, value: dict[str, int]) -> dict[str, int]:
        for arm, count in value.items():
            if not 1 <= count <= MAX_INSTANCES:
                raise ValueError(f"arm {arm!r} needs 1 to {MAX_INSTANCES:,} instances, got {count:,}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Service":
        if self.cpu_idle >= self.cpu:
            raise ValueError("cpu_idle must be below cpu (the utilisation at normal load)")
        if self.network_idle >= self.network:
            raise ValueError("network_idle must be below network (the utilisation at normal load)")
        if self.memory_load_share >= self.memory:
            raise ValueError("memory_load_share must be below memory (the utilisation at normal load)")
        if self.p99 >= self.timeout:
            raise ValueError("p99 must be below the request timeout")
        return self


class Bursts(_Model):
    """Bursts of a latent process: episodes that multiply it for a few minutes.

    Bursts start as a Poisson process of ``per_day`` episodes per arm; each lasts an
    exponential time of mean ``duration`` and multiplies the process by a log-normal
    factor of median ``multiplier`` and log-scale spread ``spread``. A share
    ``common`` of the bursts hits both arms at once (the shared infrastructure); the
    rest hit one arm, each arm at the rate ``per_day * (1 - common)``.
    """

    per_day: Number = Field(0.0, ge=0.0, le=1e4)
    duration: PositiveDuration = 180.0
    multiplier: Number = Field(10.0, ge=1.0, le=1e6)
    spread: Number = Field(0.0, ge=0.0, le=5.0)
    common: Share = 0.5


class Latent(_Model):
    """One latent process: a multiplier of the request rate, the error probability or the latency.

    Per tick, arm and segment the multiplier is ``exp(x - sd**2 / 2) * G * B``:

    * ``x`` is persistent: an Ornstein-Uhlenbeck process on the log scale with
      stationary standard deviation ``sd`` and correlation time ``correlation_time``
      (on the scrape grid, an AR(1) with ``phi = exp(-interval / correlation_time)``).
      A share ``common`` of its variance is shared by both arms (it cancels when the
      arms are compared); the rest is each arm's own. Segments of an arm share it.
    * ``G`` is per-tick overdispersion: a gamma variable of mean 1 and coefficient of
      variation ``jitter``, independent per tick, arm and segment.
    * ``B`` is the product of the :class:`Bursts` in force.

    ``day_spread`` lets the noise's amplitude change from day to day (real services
    have quieter and noisier days): each day of a run, from its start, multiplies ``sd``
    and ``jitter`` by ``exp(day_spread * z - day_spread**2)``, ``z`` standard normal per
    day and shared by arms and segments, so that their mean square over days stays
    ``sd**2`` and ``jitter**2`` (each day's capped at 3). A ramp shorter than a day meets
    one day's level.

    ``exp(x - sd**2 / 2)`` and ``G`` have mean 1, so outside bursts the configured rate is
    the average; bursts come on top and raise the long-run average by about
    ``per_day * duration / 86400 * (E[multiplier] - 1)`` (the shipped error bursts: +15%).
    """

    sd: Number = Field(0.0, ge=0.0, le=3.0)
    correlation_time: PositiveDuration = 300.0
    common: Share = 0.5
    jitter: Number = Field(0.0, ge=0.0, le=3.0)
    day_spread: Number = Field(0.0, ge=0.0, le=1.5)
    bursts: Bursts = Field(default_factory=Bursts)

    @property
    def active(self) -> bool:
        return self.sd > 0 or self.jitter > 0 or self.bursts.per_day > 0


class HealthBlips(_Model):
    """Correlated health-check failures: short blips during which an instance fails every check.

    Each instance blips as a Poisson process of ``per_day`` blips; a blip lasts an
    exponential time of mean ``duration``. Blips fail health checks only (a GC pause
    or a probe timeout the load balancer sees); they add to the independent
    ``service.health_check_failure``.
    """

    per_day: Number = Field(0.0, ge=0.0, le=1e4)
    duration: PositiveDuration = 10.0



class Variability(_Model):
    """Background variability beyond sampling noise: what real services show (see the README).

    ``requests`` multiplies the request rate, ``errors`` the application error
    probability, ``latency`` every request's latency; ``health_checks`` adds instance
    blips. The ground truth ignores all of it: background variability is normal
    behaviour, never an incident.
    """

    requests: Latent = Field(default_factory=Latent)
    errors: Latent = Field(default_factory=Latent)
    latency: Latent = Field(default_factory=Latent)
    health_checks: HealthBlips = Field(default_factory=HealthBlips)

    @property
    def active(self) -> bool:
        return (self.requests.active or self.errors.active or self.latency.active
                or self.health_checks.per_day > 0)


class TrafficConfig(_Model):
    """The whole ``traffic:`` section (see the module docstring)."""

    learners: Count = Field(500_000, ge=1, le=20_000_000)
    assignment_salt: str = "rampsim"
    segments: dict[str, Segment] = Field(default_factory=lambda: {
        "A": Segment(share=0.40, error_rate=0.00065),
        "B": Segment(share=0.35, error_rate=0.00072),
        "C": Segment(share=0.25, error_rate=0.00085),
    })
    load: Load = Field(default_factory=lambda: Load(shape="bursts", average="12,500/s", peak="21,000/s"))
    service: Service = Field(default_factory=Service)
    revenue: MoneyPerMinute = 2450.0
    revenue_uplift: RelativeChange = 0.0
    variability: Optional[Variability] = None

    @field_validator("variability", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        if value is None or value == "none":
            return None
        if isinstance(value, str):
            raise ValueError(f"expected 'none' or a mapping of requests, errors, latency and health_checks, "
                             f"got {value!r}")
        return value

    @field_validator("segments")
    @classmethod
    def _shares(cls, value: dict[str, Segment], info: ValidationInfo) -> dict[str, Segment]:
        if not value:
            raise ValueError("at least one segment is needed")
        total = sum(s.share for s in value.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"segment shares must add up to 100%, they add up to {total * 100:.4g}%")
        return value

    def check_against(self, plan: Plan) -> list[tuple[tuple, str]]:
        """Problems with this section for ``plan``, each as ``(location, message)``.

        A plan without a ``traffic:`` section is simulated with the default model (this class's defaults): what
        of its ``telemetry:`` that model does not fit is located there, and says it is the default that does not
        fit."""
        problems: list[tuple[tuple, str]] = []
        default = not plan.traffic   # the plan writes no traffic: section
        arms, segments = set(plan.telemetry.arms), tuple(plan.telemetry.segments)
        if arms != {"baseline", "canary"}:
            problems.append((("telemetry", "arms"), "the traffic model splits traffic between exactly "
                                                    "'baseline' and 'canary'"))
        if set(self.segments) != set(segments):
            if default:
                problems.append((("telemetry", "segments"), f"the plan has no traffic: section, and the default "
                                 f"traffic model's segments {', '.join(self.segments)} do not match these "
                                 f"{', '.join(segments)}: add a traffic: section with their shares and error "
                                 "rates (traffic.segments)"))
            else:
                problems.append((("traffic", "segments"), f"segments {', '.join(self.segments)} do not match the "
                                 f"plan's telemetry segments {', '.join(segments)}"))
        if set(self.service.instances) != arms and not default:   # by default, the arms' problem above
            problems.append((("traffic", "service", "instances"),
                             f"give an instance count for each arm ({', '.join(sorted(arms))})"))
        for where, measure in plan.measures():
            segment = self.segments.get(measure.segment) if measure.segment else None
            if segment is not None and segment.share == 0:
                problems.append(((*where.split("."), "segment"), f"segment {measure.segment} has no traffic (share "
                                 "0% in traffic.segments): this would never have a value to judge"))
        problems += _arms_without_traffic(plan)
        written = isinstance(plan.traffic, dict) and "load" in plan.traffic   # the default load suits any ramp
        if written and self.load.shape == "bursts" and self.load.first >= plan.duration:
            problems.append((("traffic", "load", "first"),
                             f"the first burst at {format_value(self.load.first, Kind.DURATION)} comes after the ramp "
                             f"ends ({format_value(plan.duration, Kind.DURATION)}): the load would never reach its peak"))
        if not problems:
            problems += self._calibration_problems(plan)
        return problems

    def _calibration_problems(self, plan: Plan) -> list[tuple[tuple, str]]:
        """Whether the service can be calibrated with the plan's latency buckets (its ``p99`` read by
        ``histogram_quantile`` on them): the simulation refuses a service it cannot calibrate."""
        from rampsim.sim.service import ServiceModel   # imports this module

        try:
            ServiceModel.calibrate(self, plan.telemetry.latency_buckets)
        except ValueError as exc:
            if plan.traffic:
                return [(("traffic",), str(exc))]
            p99 = format_value(self.service.p99, Kind.DURATION)
            return [(("telemetry", "latency_buckets"), f"the plan has no traffic: section, and the default traffic "
                     f"model's service (P99 {p99}) cannot be calibrated with these buckets ({exc}): add a traffic: "
                     f"section with a service they can measure (traffic.service.p99), or buckets around {p99}")]
        return []


def _arms_without_traffic(plan: Plan) -> list[tuple[tuple, str]]:
    """A measure reading the requests of an arm that no phase gives traffic: the canary when every phase is at 0%, the
    baseline when every phase is at 100% (a phase at another weight, or weights that come from elsewhere and vary,
    leave it be). Gauges are left alone: an idle instance still reports its CPU and memory."""
    weights = {phase.weight for phase in plan.phases}
    idle = {"canary"} if weights == {0.0} else {"baseline"} if weights == {1.0} else set()
    if not idle:
        return []
    layout = plan.layout
    problems: list[tuple[tuple, str]] = []
    for where, measure in plan.measures():
        if not measure.metric_definition.from_telemetry:
            continue
        read = set(read_channels(layout, [measure])[0].tolist())
        for arm in sorted(idle):
            if not read & set(layout.channels("requests", layout.arm(arm)).ravel().tolist()):
                continue
            field = "compare" if arm == measure.compare else "arm"
            weight = "0%" if arm == "canary" else "100%"
            problems.append(((*where.split("."), field), f"the {arm} has no traffic (every phase at {weight}): this "
                                                          "would never have a value to judge"))
    return problems


def traffic_config(plan: Plan) -> TrafficConfig:
    """The validated ``traffic:`` section of ``plan`` (the runbook's defaults where it is absent).

    Raises :class:`~rampsim.plan.PlanError` with ``file:line: traffic.field: message`` lines.
    """
    document = plan_document(plan)
    config = validate_section(TrafficConfig, plan.traffic or {}, document, ("traffic",))
    problems = [locate(document, loc, message) for loc, message in config.check_against(plan)]
    if problems:
        raise PlanError(problems)
    return config


register_section("traffic", traffic_config)
