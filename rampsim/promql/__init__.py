"""PromQL evaluated over labelled series, with the semantics of Prometheus 2.x or 3.x.

rampsim evaluates the subset of PromQL that progressive-delivery gates are written in
(selectors with every matcher kind and offsets; ``rate``, ``irate``, ``increase``,
``delta``, ``idelta``, ``deriv``, ``changes``, ``resets`` and ``*_over_time``;
``histogram_quantile`` over classic buckets; ``sum``/``avg``/``min``/``max``/``count``
with ``by``/``without``; arithmetic, comparison and set operators with vector matching;
``vector``, ``scalar``, ``time``, ``clamp*``, ``abs``, ``round``), parsed by
``promql_parser``. Anything else is refused with :class:`UnsupportedQuery` naming it.

>>> from rampsim.promql import SeriesStore, evaluate
>>> store = SeriesStore()
>>> store.add({"__name__": "http_requests_total", "code": "500"}, [0, 15, 30, 45, 60], [0, 15, 30, 45, 60])
>>> evaluate('sum(increase(http_requests_total[1m]))', store, time=60, semantics=3).to_api_json()
{'resultType': 'vector', 'result': [{'metric': {}, 'value': [60, '60']}]}
>>> evaluate('http_requests_total{code="503"} or vector(0)', store, time=60).to_api_json()
{'resultType': 'vector', 'result': [{'metric': {}, 'value': [60, '0']}]}
"""
from __future__ import annotations

from rampsim.promql.api import DEFAULT_LOOKBACK, check_supported, evaluate, evaluate_range
from rampsim.promql.errors import PromQLError, QueryError, UnsupportedQuery
from rampsim.promql.exposition import PROFILES, ClientNames, Deployment, Exposition, Names, expose, exposition_store
from rampsim.promql.semantics import Semantics, as_semantics
from rampsim.promql.store import SeriesStore
from rampsim.promql.values import InstantResult, RangeResult, Sample, Series

__all__ = ["SeriesStore", "evaluate", "evaluate_range", "check_supported", "Semantics", "as_semantics",
           "InstantResult", "RangeResult", "Sample", "Series", "PromQLError", "QueryError", "UnsupportedQuery",
           "DEFAULT_LOOKBACK"]

__all__ += ["PROFILES", "ClientNames", "Deployment", "Exposition", "Names", "expose", "exposition_store"]
