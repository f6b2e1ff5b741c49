"""Calibration: a team's own history against the simulator's traffic model.

- :mod:`~rampsim.calibration.estimators`: the load profile, segment error rates and the
  background-variability model of :mod:`rampsim.sim.variability`, each with a 95%
  interval, from the per-tick increments of one arm (pure numpy and scipy);
- :mod:`~rampsim.calibration.fit`: those estimates as a plan's ``traffic:`` section
  (:mod:`~rampsim.calibration.traffic_yaml` writes it with its intervals);
- :mod:`~rampsim.calibration.comparison`: the history against the calibrated model,
  simulated over as long a stretch;
- :mod:`~rampsim.calibration.backtest`: A/A backtests of a plan's gate on the history.
"""
