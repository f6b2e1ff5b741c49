"""Helpers for the imported-gate tests: the real-gates corpus, gates from YAML text, hand-built series stores."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import pytest

from rampsim.gates.argo_import import import_argo_manifests
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.flagger_import import import_flagger_manifests
from rampsim.gates.flagger_model import FlaggerGate
from rampsim.gates.imported_plan import plan_data
from rampsim.gates.manifests import parse_manifests
from rampsim.gates.plan_sections import gated_plan_from_document
from rampsim.plan.schema import Plan
from rampsim.plan.source import Document
from rampsim.promql import SeriesStore
from rampsim.telemetry import Telemetry
from tests.conftest import missing

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "real-gates"


PODINFO_CANARY = """\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
"""
"""Flagger's podinfo Canary with one built-in check: the shape of most public Flagger gates."""

README_TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service-name}, {name: canary-hash}]
  metrics:
  - name: success-rate
    interval: 30s
    failureLimit: 1
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        query: |
          sum(rate(http_requests_total{service="{{args.service-name}}",
            rollouts_pod_template_hash="{{args.canary-hash}}",code!~"5.."}[1m]))
          / sum(rate(http_requests_total{service="{{args.service-name}}",
            rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]))
"""
README_ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: checkout}
spec:
  strategy:
    canary:
      analysis:
        templates: [{templateName: success-rate}]
        startingStep: 1
        args:
        - {name: service-name, value: checkout}
        - {name: canary-hash, valueFrom: {podTemplateHashValue: Latest}}
      steps:
      - setWeight: 10
      - pause: {duration: 5m}
      - setWeight: 30
      - pause: {duration: 5m}
"""
"""The README's Argo AnalysisTemplate, and a Rollout that runs it in the background from its first pause."""


def corpus(kind: str) -> Path:
    """``real-gates/<kind>``, or skip the test when the corpus is not next to the project (fail it under CI, as the
    Prometheus and Chromium fixtures do: a CI run without the corpus would pass untested)."""
    path = CORPUS / kind
    if not path.is_dir():
        reason = f"the real-gates corpus is not at {path} (it lives beside the project, in shared/)"
        missing(reason)
    return path


def argo_gate(text: str, *, rollout: Optional[str] = None, args: Optional[dict[str, str]] = None,
              profile: str = "http") -> ArgoGate:
    """An Argo gate from the YAML of templates (and a Rollout)."""
    manifests = parse_manifests(textwrap.dedent(text), "gate.yaml")
    rollouts = parse_manifests(textwrap.dedent(rollout), "rollout.yaml") if rollout else []
    return import_argo_manifests(manifests, rollouts, args or {}, profile).gate


def flagger_gate(text: str, *, mesh: Optional[str] = None) -> FlaggerGate:
    """A Flagger gate from the YAML of a Canary (and MetricTemplates)."""
    return import_flagger_manifests(parse_manifests(textwrap.dedent(text), "canary.yaml"), mesh=mesh).gate


def plan_for(kind: str, gate: ArgoGate | FlaggerGate) -> Plan:
    """The imported plan carrying ``gate``, validated."""
    data, _ = plan_data(kind, gate, "test")
    return gated_plan_from_document(Document(data=data, filename="plan.yaml"))


def clock(plan: Plan, until: Optional[float] = None) -> Telemetry:
    """Telemetry with only a time axis (the imported engines read their data through queries)."""
    interval = plan.telemetry.scrape_interval
    end = plan.duration if until is None else until
    time = np.arange(0.0, end + interval / 2, interval)
    telemetry = Telemetry.empty(plan.layout, len(time))
    telemetry.time = time
    return telemetry


def run_engine(engine, telemetry: Telemetry) -> list:
    events = []
    for tick in range(len(telemetry)):
        events.extend(engine.observe(telemetry, tick))
    return events


def counter(store: SeriesStore, labels: dict[str, str], times: np.ndarray, per_second: Iterable[float] | float,
            created: Optional[float] = None) -> None:
    """A counter scraped at ``times`` growing at ``per_second`` (per interval), absent before ``created``
    (a labelled series that exists only from its first increment)."""
    times = np.asarray(times, dtype=float)
    rates = np.broadcast_to(np.asarray(per_second, dtype=float), times.shape)
    steps = np.diff(times, prepend=times[0]) * rates
    values = np.cumsum(steps)
    keep = np.ones_like(times, dtype=bool) if created is None else times >= created
    store.add(labels, times[keep], values[keep])


def http_store(times: np.ndarray, ok: Iterable[float] | float, errors: Iterable[float] | float,
               errors_from: Optional[float] = None, labels: Optional[dict[str, str]] = None) -> SeriesStore:
    """``http_requests_total`` with a 200 and a 500 series (the 500 one created at its first increment)."""
    store = SeriesStore()
    extra = labels or {}
    counter(store, {"__name__": "http_requests_total", "code": "200", **extra}, times, ok)
    counter(store, {"__name__": "http_requests_total", "code": "500", **extra}, times, errors, created=errors_from)
    return store
