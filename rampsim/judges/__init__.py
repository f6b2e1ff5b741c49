"""Statistical judges of a canary against its baseline: pure functions of per-interval series.

They know nothing of plans, simulations or Prometheus: the engine and the sweeps feed them arrays.
"""
