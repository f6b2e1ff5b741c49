"""Tools for testing gates: hypothesis strategies and assertion helpers.

Import strategies from :mod:`rampsim.testing.strategies` (``from rampsim.testing
import strategies as rst``) and compose them like hypothesis's own.
"""
