"""The PromQL a Kayenta metric sends for each scope, built as Kayenta's Prometheus provider builds it.

From spinnaker/kayenta ``PrometheusMetricsService.buildQuery`` and ``QueryConfigUtils.expandCustomFilter``:

* the template is ``customInlineTemplate`` (Kayenta unescapes ``$\\{`` first), else the ``templates``
  entry ``customFilterTemplate`` names; it is expanded like Apache Commons' ``StringSubstitutor``:
  ``${name}`` (an unknown name fails the query), ``${name:-default}``, ``$${name}`` for a literal.
  The names are the scope's ``scope``, ``location``, ``project`` and ``resourceType`` (the query's
  own ``resourceType`` wins), then every ``extendedScopeParams`` entry;
* an expanded template that starts with ``PromQL:`` is the whole query;
* otherwise the query is ``avg(metricName{filters})``, ``by (groupByFields)`` when given: the filters
  are the expanded template split at commas, then ``labelBindings``; without a template the scope is
  matched by resource type, ``gce_instance`` (``<scope_label>=~"<scope>-.{4}"`` and the zone of the
  location) or ``aws_ec2_instance`` (``asg_groupName="<scope>"`` and the zone), and any other or no
  resource type fails the query, with Kayenta's message.

A query that cannot be built is a :class:`QueryBuildError`; Kayenta's canary execution then fails,
and so does the analysis (:mod:`rampsim.gates.kayenta_engine`).

In the simulation the stage's scopes are the simulated arms (the experiment scope the canary, the
control scope the baseline), whatever the team calls its server groups: :func:`simulated_scope` is
the name a scope stands for in a query, the one under which the query's matchers select the most of
the arm's simulated series (:func:`~rampsim.gates.series_names.solve_placeholder`: ``canary`` for
``arm="${scope}"``, the arm's workload for Istio's ``destination_workload="${scope}"``), the scope as
written when no other name selects more.
"""
from __future__ import annotations

import re
from typing import Mapping, Optional, Union

from rampsim.errors import RampsimError
from rampsim.gates.kayenta_model import KayentaGate
from rampsim.gates.series_names import query_selectors, solve_placeholder
from rampsim.judges.kayenta_config import KayentaMetric

__all__ = ["ARMS", "QueryBuildError", "expand_template", "build_query", "metric_queries", "template_variables",
           "simulated_scope"]

ARMS = ("canary", "baseline")
"""Kayenta's experiment and control, as rampsim's arms."""

_VARIABLE = re.compile(r"\$(\$?)\{([^}]*)\}")


class QueryBuildError(RampsimError):
    """A query Kayenta cannot build for a scope (an unknown template variable, no way to select the scope)."""


def template_variables(template: str) -> list[str]:
    """The variables ``template`` uses without a default (escaped ones left out), in order."""
    names = []
    for escaped, body in _VARIABLE.findall(template.replace("$\\{", "${")):
        name, sep, _ = body.partition(":-")
        if not escaped and not sep and name not in names:
            names.append(name)
    return names


def expand_template(template: str, bindings: Mapping[str, str]) -> str:
    """``template`` with its variables replaced (see the module docstring); :class:`QueryBuildError` for an
    unknown one."""
    def replace(found: re.Match[str]) -> str:
        escaped, body = found.group(1), found.group(2)
        if escaped:
            return "${" + body + "}"
        name, sep, default = body.partition(":-")
        if name in bindings:
            return bindings[name]
        if sep:
            return default
        raise QueryBuildError(f"Problem evaluating custom filter template: {template} (no value for ${{{name}}}: "
                              f"give it as an extendedScopeParams entry)")

    return _VARIABLE.sub(replace, template.replace("$\\{", "${"))


def _bindings(gate: KayentaGate, metric: KayentaMetric, arm: str, name: str) -> dict[str, str]:
    scope, query = gate.scope_of(metric), gate.query(metric)
    params = scope.extendedScopeParams
    base = {"project": params.get("project"), "resourceType": query.resourceType or params.get("resourceType"),
            "scope": name, "location": scope.location(arm)}
    return {**{k: v for k, v in base.items() if v}, **params}


def _scope_filters(gate: KayentaGate, metric: KayentaMetric, arm: str, name: str) -> list[str]:
    scope, query = gate.scope_of(metric), gate.query(metric)
    resource = query.resourceType or scope.extendedScopeParams.get("resourceType")
    location = scope.location(arm)
    if resource in ("gce_instance", "aws_ec2_instance") and not location:
        raise QueryBuildError(f"Location (i.e. region) is required when resourceType is '{resource}'.")
    if resource == "gce_instance":
        project = scope.extendedScopeParams.get("project")
        zone = ".+/" + (f"projects/{project}/" if project else "") + f"zones/{location}-.{{1}}"
        return ([f'{gate.scope_label}=~"{name}-.{{4}}"'] if name else []) + [f'zone=~"{zone}"']
    if resource == "aws_ec2_instance":
        return ([f'asg_groupName="{name}"'] if name else []) + [f'zone=~"{location}.{{1}}"']
    if resource:
        raise QueryBuildError(f"There is no explicit support for resourceType '{resource}'. You may build whatever "
                              "query makes sense for your environment via label bindings and custom filter templates.")
    raise QueryBuildError("Either a resource type or a custom filter is required.")


def build_query(gate: KayentaGate, metric: KayentaMetric, arm: str, scope: Optional[str] = None) -> str:
    """The PromQL ``metric`` sends for ``arm``'s scope (``scope`` in its place); :class:`QueryBuildError` when Kayenta
    cannot build it."""
    query = gate.query(metric)
    name = gate.scope_of(metric).scope(arm) if scope is None else scope
    template = query.customInlineTemplate or (gate.config.templates.get(query.customFilterTemplate)
                                              if query.customFilterTemplate else None)
    custom = expand_template(template, _bindings(gate, metric, arm, name)) if template else None
    if custom is not None and custom.startswith("PromQL:"):
        return custom[len("PromQL:"):]
    filters = list(query.labelBindings)
    if custom:
        filters = custom.split(",") + filters
    else:
        filters += _scope_filters(gate, metric, arm, name)
    text = f"avg({query.metricName}" + ("{" + ",".join(filters) + "}" if filters else "") + ")"
    return text + (f" by ({','.join(query.groupByFields)})" if query.groupByFields else "")


def simulated_scope(gate: KayentaGate, metric: KayentaMetric, arm: str) -> str:
    """The name ``arm``'s scope stands for in ``metric``'s query in the simulation (see the module docstring)."""
    written = gate.scope_of(metric).scope(arm)
    tag = f"{arm}-scope"   # the baseline's tag names it, so the baseline's series are solved for
    try:
        templated = build_query(gate, metric, arm, scope="{{args.%s}}" % tag)
    except QueryBuildError:
        return written
    return solve_placeholder(tag, written, gate.profile, gate.identity.service, gate.identity.namespace,
                             query_selectors(templated), {})


def metric_queries(gate: KayentaGate, simulated: bool = False) -> dict[str, dict[str, Union[str, QueryBuildError]]]:
    """Each metric's query for each arm (:data:`ARMS`), or why Kayenta cannot build it; ``simulated``: as the
    simulation asks it, each scope standing for its arm's series (:func:`simulated_scope`)."""
    found: dict[str, dict[str, Union[str, QueryBuildError]]] = {}
    for metric in gate.config.metrics:
        found[metric.name] = {arm: _query(gate, metric, arm, simulated) for arm in ARMS}
        arms = list(found[metric.name].values())
        if simulated and isinstance(arms[0], str) and arms[0] == arms[1]:
            # no label the query matches tells the arms apart: the stand-ins would compare the service with itself
            found[metric.name] = {arm: _query(gate, metric, arm, False) for arm in ARMS}
    return found


def _query(gate: KayentaGate, metric: KayentaMetric, arm: str, simulated: bool) -> Union[str, QueryBuildError]:
    try:
        return build_query(gate, metric, arm, simulated_scope(gate, metric, arm) if simulated else None)
    except QueryBuildError as exc:
        return exc
