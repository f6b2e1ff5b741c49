"""Imported gates: Argo Rollouts analyses and Flagger canaries, judged with their controllers' semantics."""
