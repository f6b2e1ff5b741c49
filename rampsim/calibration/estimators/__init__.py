"""Estimators of the traffic model from one arm's per-tick history, each with a 95% interval.

The model is the one :mod:`rampsim.sim.variability` draws (see
:class:`~rampsim.sim.config.Latent`): per scrape tick of ``dt`` seconds a latent
multiplier ``M_t = exp(x_t - sd**2 / 2) * G_t * B_t`` with ``x`` a stationary AR(1)
on the log scale (marginal sd ``sd``, ``phi = exp(-dt / correlation_time)``), ``G``
a gamma variable of mean 1 and coefficient of variation ``jitter``, independent per
tick and segment, and ``B`` the bursts in force (Poisson starts, exponential
durations, log-normal multipliers; its ``day_spread``, which needs the model
simulated, is fitted by :mod:`rampsim.calibration.day_spread`). It multiplies the request rate (counts
Poisson), the error probability (errors binomial) and every latency (observed as
classic-histogram buckets). Health checks fail independently with probability
``q`` plus during per-instance blips.

Inputs are per-tick *increments* (not cumulative counters); a ``NaN`` anywhere in
a tick's row marks a missing scrape and that tick is left out (lag products that
touch it too). Everything is vectorized over ticks with numpy; the only Python
loops run over lags, blocks, segments and detected bursts. A parameter the data
cannot inform falls back to the stated default (``Estimate.fallback``), never an
invented number.

Modules, one noun each; each documents the intervals of the parameters it estimates:

- :mod:`~rampsim.calibration.estimators.intervals`: :class:`Estimate`, the stated :data:`DEFAULTS`, the
  block jackknife and the exact intervals the others share;
- :mod:`~rampsim.calibration.estimators.load_profile`: the load profile, flat or diurnal with harmonics
  (:func:`fit_load`);
- :mod:`~rampsim.calibration.estimators.error_rates`: base error rates per segment (:func:`fit_error_rates`);
- :mod:`~rampsim.calibration.estimators.detection`: bursts detected as runs of ticks far above the
  persistent level;
- :mod:`~rampsim.calibration.estimators.moments`: the persistent process and the jitter by the method of
  moments, on the ratio or the log scale;
- :mod:`~rampsim.calibration.estimators.bursts`: the detected bursts measured, their parameters fitted;
- :mod:`~rampsim.calibration.estimators.latent`: one latent process (:func:`fit_latent`), with the load
  for requests (:func:`fit_requests`) and the base error rates for errors (:func:`fit_errors`), and the share
  common to two arms;
- :mod:`~rampsim.calibration.estimators.latency_stretch`: latency from histogram buckets, per-tick
  log-stretch and typical P99 (:func:`fit_latency`);
- :mod:`~rampsim.calibration.estimators.health`: health checks' failure probability and instance blips
  (:func:`fit_health`);
- :mod:`~rampsim.calibration.estimators.day_noise`: the request noise day by day (the day spread and the fit
  report's day-to-day check read it);
- :mod:`~rampsim.calibration.estimators.checks`: what per-tick counts cannot be (:func:`count_problems`);
- :mod:`~rampsim.calibration.estimators.shared`: the constants several of them use.
"""
from rampsim.calibration.estimators.bursts import BurstFit
from rampsim.calibration.estimators.checks import count_problems
from rampsim.calibration.estimators.error_rates import ErrorRateFit, fit_error_rates
from rampsim.calibration.estimators.health import HealthFit, fit_health
from rampsim.calibration.estimators.intervals import DEFAULTS, Estimate
from rampsim.calibration.estimators.latency_stretch import LatencyFit, fit_latency
from rampsim.calibration.estimators.latent import LatentFit, fit_errors, fit_latent, fit_requests
from rampsim.calibration.estimators.load_profile import HarmonicFit, LoadFit, fit_load

__all__ = [
    "Estimate", "HarmonicFit", "LoadFit", "ErrorRateFit", "BurstFit", "LatentFit", "LatencyFit", "HealthFit",
    "fit_load", "fit_error_rates", "fit_latent", "fit_latency", "fit_health", "fit_requests", "fit_errors",
    "count_problems", "DEFAULTS",
]
