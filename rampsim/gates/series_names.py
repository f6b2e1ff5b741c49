"""Which names the simulated series carry: the service, namespace and arg values an imported Argo gate's queries select.

An imported gate is simulated over the series its exporter would write (:mod:`rampsim.promql.exposition`,
under the gate's profile), named after :class:`~rampsim.gates.argo_model.Identity` (the service and its
namespace; each arm's workload is ``<service>-canary`` or ``<service>-stable``). A gate's queries name
the series they read: literally (``job="checkout"``, ``namespace="shop"``) or through args
(``destination_service=~"{{args.service}}.{{args.namespace}}.svc.cluster.local"``). When those names
do not match the simulated series, every query comes back empty and a healthy release is rolled back
for no reason but the simulation's. So the importer chooses the names the queries select, by the
exporter's own conventions (:func:`arm_labels`, each arm's labels under a profile):

* :func:`infer_identity`: the service and namespace under which the most identity-bearing matchers
  written with known values (literals, args the files or the command line give) select one arm's
  series; rampsim's defaults (``app``, ``default``) unless some choice selects more;
* :func:`solve_placeholder`: the value of an arg nothing supplies, among its name's default and the
  values its matchers would need, the one that makes them select the canary's series (the stable
  arm's for an arg named after it). Under ``nginx``, ``service="{{args.service-name}}"`` with
  ``canary!=""`` names the canary's backend, ``app-canary``; under ``istio``,
  ``destination_service="{{args.service-name}}"`` names its FQDN,
  ``app-canary.default.svc.cluster.local``; ``job="{{args.service-name}}"`` (``http``) the service.

A matcher no choice can satisfy (a label the exporter does not write, a short name where Istio writes
an FQDN) stays unmatched: that is the gate's hazard, and the simulation shows it. The importer writes
what it chose in the plan's comments.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

from rampsim.errors import RampsimError
from rampsim.promql.exposition import Deployment
from rampsim.promql.parse import parse, selectors

__all__ = ["Use", "arm_labels", "query_selectors", "infer_identity", "solve_placeholder", "ARMS", "prefers_stable"]

ARMS = ("canary", "baseline")
_TAG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+?)\s*\}\}")
_ANY_TAG = re.compile(r"\{\{.*?\}\}", re.S)
_MARK = "RAMPSIMARG{}END"
_MARKED = re.compile(r"RAMPSIMARG(\d+)END")
_SUFFIXES = ("-canary", "-stable", "-primary", "-preview", "-active")
_NAMESPACE_LABELS = ("namespace", "destination_workload_namespace", "destination_service_namespace",
                     "kubernetes_namespace", "exported_namespace")


def arm_labels(profile: str, service: str, namespace: str, arm: str, canary_hash: str = "canary",
               stable_hash: str = "stable") -> dict[str, str]:
    """The identity-bearing labels of ``arm``'s series under ``profile``, as :mod:`rampsim.promql.exposition` writes
    them for the deployment an Argo gate is simulated on (other labels, status codes and buckets, vary by series)."""
    d = Deployment(service=service, namespace=namespace,
                   template_hashes={"canary": canary_hash, "baseline": stable_hash})
    workload, pod = d.workload(arm), d.pod_names(arm)[0]
    if profile in ("http", "spring"):
        labels = {"namespace": namespace, "job": service, "service": service, "app": service, "pod": pod,
                  "rollouts_pod_template_hash": d.template_hash(arm)}
        if profile == "spring":
            labels["application"] = service
        return labels
    if profile == "istio":
        return {"destination_workload": workload, "destination_workload_namespace": namespace,
                "destination_app": service, "destination_version": d.alias(arm),
                "destination_service_name": workload, "destination_service_namespace": namespace,
                "destination_service": f"{workload}.{namespace}.svc.cluster.local", "namespace": namespace,
                "pod": pod}
    if profile == "linkerd":
        return {"namespace": namespace, "deployment": workload, "pod": pod}
    if profile == "envoy":
        return {"namespace": namespace, "pod": pod, "app": service, "rollouts_pod_template_hash": d.template_hash(arm),
                "envoy_cluster_name": f"cds_ingress_{namespace}_{workload}_http_80"}
    if profile == "nginx":
        return {"ingress": service, "host": f"{service}.example.com", "namespace": namespace, "service": workload,
                "canary": "" if arm == "baseline" else f"{namespace}-{workload}-80"}
    return {"arm": arm}   # rampsim's own names (the custom profile)


@dataclass(frozen=True)
class Use:
    """A label matcher of a query: ``label op value``, ``value`` with ``{{args.x}}`` tags left in."""

    label: str
    op: str
    value: str

    def args(self) -> list[str]:
        return _TAG.findall(self.value)

    def matches(self, value: str, args: Mapping[str, str]) -> Optional[bool]:
        """Whether the matcher selects a series whose label is ``value``, the tags given ``args`` (``None``: some
        tag has no value, or the regex is invalid)."""
        missing = False

        def fill(match: re.Match[str]) -> str:
            nonlocal missing
            if match.group(1) not in args:
                missing = True
                return ""
            found = args[match.group(1)]
            return re.escape(found) if self.op in ("=~", "!~") else found

        wanted = _TAG.sub(fill, self.value)
        if missing or _ANY_TAG.search(wanted):
            return None
        if self.op in ("=", "!="):
            return (value == wanted) == (self.op == "=")
        try:
            return (re.fullmatch(wanted, value) is not None) == (self.op == "=~")
        except re.error:
            return None


def query_selectors(query: str) -> list[list[Use]]:
    """The selectors of a templated query, each its matchers (``__name__`` left out); ``[]`` when it does not parse
    with its tags (a tag in a duration or a number)."""
    names: list[str] = []

    def mark(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return _MARK.format(len(names) - 1)

    marked = _TAG.sub(mark, query)
    if _ANY_TAG.search(marked):
        return []
    try:
        tree = parse(marked)
    except RampsimError:
        return []
    out = []
    for selector in selectors(tree):
        uses = [Use(m.name, m.op, _MARKED.sub(lambda g: "{{args.%s}}" % names[int(g.group(1))], m.value))
                for m in selector.matchers if m.name != "__name__"]
        if uses:
            out.append(uses)
    return out


def _score(selectors_: Iterable[Sequence[Use]], profile: str, service: str, namespace: str,
           args: Mapping[str, str], arms: Sequence[str] = ARMS) -> int:
    """Matchers on identity-bearing labels satisfied, summed over selectors, each selector on its best arm."""
    by_arm = {arm: arm_labels(profile, service, namespace, arm) for arm in arms}
    total = 0
    for uses in selectors_:
        best = 0
        for labels in by_arm.values():
            hits = [u.matches(labels[u.label], args) for u in uses if u.label in labels]
            best = max(best, sum(1 for h in hits if h))
        total += best
    return total


def _service_candidates(value: str) -> list[str]:
    first = value.split(".")[0]
    out = []
    for text in (value, first):
        out.append(text)
        for suffix in _SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                out.append(text[: -len(suffix)])
    return [c for c in out if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", c)]


def infer_identity(profile: str, selectors_: Sequence[Sequence[Use]], args: Mapping[str, str],
                   service: str = "app", namespace: str = "default") -> tuple[str, str]:
    """The service and namespace under which the matchers with known values select the most of one arm's series
    (see the module docstring); ``service`` and ``namespace`` (the defaults) unless another choice selects more."""
    known = [[u for u in uses if all(a in args for a in u.args())] for uses in selectors_]
    known = [uses for uses in known if uses]
    services, namespaces = [service], [namespace]
    for uses in known:
        for use in uses:
            filled = _TAG.sub(lambda m: args[m.group(1)], use.value)
            if use.op not in ("=", "=~") or not filled:
                continue
            if use.label in _NAMESPACE_LABELS:
                namespaces.append(filled)
            elif filled.endswith(".svc.cluster.local") and filled.count(".") >= 4:
                namespaces.append(filled.split(".")[1])
                services.extend(_service_candidates(filled))
            else:
                services.extend(_service_candidates(filled))
    best = (service, namespace)
    best_score = _score(known, profile, service, namespace, args)
    for candidate_service in dict.fromkeys(services):
        for candidate_namespace in dict.fromkeys(namespaces):
            score = _score(known, profile, candidate_service, candidate_namespace, args)
            if score > best_score:
                best, best_score = (candidate_service, candidate_namespace), score
    return best


def prefers_stable(name: str) -> bool:
    """Whether an arg's name says it names the stable arm (``stable-service``, ``baseline-host``...)."""
    lowered = name.lower()
    return any(word in lowered for word in ("stable", "baseline", "primary"))


def solve_placeholder(name: str, default: str, profile: str, service: str, namespace: str,
                      selectors_: Sequence[Sequence[Use]], args: Mapping[str, str]) -> str:
    """The value of arg ``name`` (nothing supplies it) that makes the selectors using it select the canary's series
    (the stable arm's for a stable-named arg); ``default`` (by its name) when no other value selects more."""
    mine = [uses for uses in selectors_ if any(name in u.args() for u in uses)]
    if not mine:
        return default
    arm = "baseline" if prefers_stable(name) else "canary"
    labels = arm_labels(profile, service, namespace, arm)
    candidates = [default]
    for uses in mine:
        for use in uses:
            if name not in use.args() or use.label not in labels or use.op not in ("=", "=~"):
                continue
            target = labels[use.label]
            pattern = _solving_pattern(use.value, name, args)
            found = re.fullmatch(pattern, target) if pattern else None
            if found:
                candidates.append(found.group("x"))
            candidates.append(target)
    trial = dict(args)
    best, best_score = default, -1
    for candidate in dict.fromkeys(candidates):
        trial[name] = candidate
        score = _score(mine, profile, service, namespace, trial, arms=(arm,))
        if score > best_score:
            best, best_score = candidate, score
    return best


def _solving_pattern(value: str, name: str, args: Mapping[str, str]) -> Optional[str]:
    """A regex that reads ``name``'s value out of a label value written as ``value`` (its other tags given ``args``,
    its text literal), or ``None`` when another tag has no value."""
    parts: list[str] = []
    position = 0
    seen = False
    for match in _TAG.finditer(value):
        parts.append(re.escape(value[position:match.start()]))
        arg = match.group(1)
        if arg == name:
            parts.append("(?P=x)" if seen else "(?P<x>.+?)")
            seen = True
        elif arg in args:
            parts.append(re.escape(args[arg]))
        else:
            return None
        position = match.end()
    parts.append(re.escape(value[position:]))
    return "".join(parts) if seen else None
