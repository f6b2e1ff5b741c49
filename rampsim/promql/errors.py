"""The errors the PromQL evaluator reports: a query it refuses, and a query Prometheus would fail too.

Both derive from :class:`rampsim.errors.UsageError` (exit code 2 on the command line): a
query is user input. :class:`UnsupportedQuery` names the function or construct outside the
evaluated subset, so nothing is ever approximated; :class:`QueryError` is an error Prometheus
itself raises for the same query and data (a parse error, many-to-many matching, duplicate
label sets in a result).
"""
from __future__ import annotations

from rampsim.errors import UsageError

__all__ = ["PromQLError", "UnsupportedQuery", "QueryError"]


class PromQLError(UsageError):
    """Base of every error of :mod:`rampsim.promql`."""


class UnsupportedQuery(PromQLError):
    """A query that uses a function or construct outside the subset rampsim evaluates.

    ``construct`` is the short name of what was refused (``"function topk"``, ``"@ modifier"``,
    ``"subquery"``); the runner of Prometheus's test files counts refusals by it.
    """

    def __init__(self, construct: str, detail: str = "") -> None:
        self.construct = construct
        message = f"PromQL outside rampsim's subset: {construct}"
        super().__init__(f"{message} ({detail})" if detail else message)


class QueryError(PromQLError):
    """A query Prometheus rejects too: it does not parse, or its evaluation fails on this data."""
