"""Calibration: the traffic model's parameters estimated from a team's own history.

:mod:`rampsim.calibration.estimators` estimates the load profile, the segments'
error rates and the background-variability model of :mod:`rampsim.sim.variability`
(persistent wander, per-tick jitter, bursts, health-check blips), each with a 95%
interval, from the per-tick increments of one arm. Pure numpy and scipy: nothing
here runs the simulation.
"""
