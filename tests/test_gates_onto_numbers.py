"""``export --onto`` changes only what the sweep changed, in the file's own number form.

Review: a --write-best plan restating a threshold the file already had (``threshold: 1`` for ``result[0] <= 1.0``)
rewrote the template (``<= 1``, its comment dropped); a Flagger Canary came back with every bound a float
(``min: 99`` → ``99.0``, legacy ``threshold: 500`` → ``500.0``), a swept ``max=5`` written ``5.0``.
"""
from __future__ import annotations

import yaml

from rampsim.cli import main
from rampsim.gates.exprlang import with_threshold
from tests.gates_helpers import PODINFO_CANARY

LATENCY = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: latency
spec:
  metrics:
    - name: latency
      interval: 1m
      count: 5
      # PromQL to measure 95th percentile latency
      provider:
        prometheus:
          address: http://prometheus:9090
          query: |
            histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="app"}[5m])) by (le))
      successCondition: result[0] <= 1.0
"""
CANARY = PODINFO_CANARY + (
    "    - {name: request-duration, thresholdRange: {max: 500}, interval: 1m}\n"
    "    - {name: request-duration-legacy, threshold: 500, interval: 1m, query: 'sum(rate(x_total[1m]))'}\n")


def test_a_condition_given_its_own_threshold_keeps_its_text():
    assert with_threshold("result[0] <= 1.0", 1) == "result[0] <= 1.0"
    assert with_threshold("result[0] <= 1.0", 2) == "result[0] <= 2.0"      # the decimal form the file wrote
    assert with_threshold("result[0] <= 1", 2) == "result[0] <= 2"
    assert with_threshold("result[0] >= 0.95", 0.99) == "result[0] >= 0.99"


def test_an_argo_template_whose_threshold_the_plan_restates_is_written_as_it_was(tmp_path, capsys):
    template = tmp_path / "latency.yaml"
    template.write_text(LATENCY)
    plan = tmp_path / "plan.yaml"
    assert main(["import", "argo", str(template), "-o", str(plan)]) == 0
    text = plan.read_text()
    assert "      successCondition: result[0] <= 1.0\n" in text
    restated = tmp_path / "best.yaml"   # what --write-best writes when the best grid point has latency at 1
    restated.write_text(text.replace("      successCondition: result[0] <= 1.0\n",
                                     "      successCondition: result[0] <= 1.0\n      threshold: 1\n"))
    capsys.readouterr()
    assert main(["export", "argo", str(restated), "--onto", str(template)]) == 0
    out, err = capsys.readouterr()
    assert out == LATENCY and "comment line(s) not written" not in err
    swept = tmp_path / "swept.yaml"
    swept.write_text(restated.read_text().replace("      threshold: 1\n", "      threshold: 2\n"))
    assert main(["export", "argo", str(swept), "--onto", str(template)]) == 0
    assert "successCondition: result[0] <= 2.0\n" in capsys.readouterr().out


def test_a_flagger_canary_keeps_its_numbers_as_written_and_a_swept_bound_its_form(tmp_path, capsys):
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY)
    plan = tmp_path / "plan.yaml"
    assert main(["import", "flagger", str(canary), "--mesh", "istio", "-o", str(plan)]) == 0
    text = plan.read_text()
    assert "min: 99\n" in text and "max: 500\n" in text and "threshold: 500\n" in text   # not 99.0, 500.0
    capsys.readouterr()
    assert main(["export", "flagger", str(plan), "--onto", str(canary)]) == 0
    metrics = yaml.safe_load(capsys.readouterr().out)["spec"]["analysis"]["metrics"]
    assert [type(v) for m in metrics for v in (m.get("thresholdRange") or {"t": m.get("threshold")}).values()] == \
        [int, int, int]
    swept = tmp_path / "swept.yaml"   # a grid's value, or an older --write-best: floats
    swept.write_text(text.replace("max: 500\n", "max: 5.0\n").replace("min: 99\n", "min: 99.0\n"))
    assert main(["export", "flagger", str(swept), "--onto", str(canary)]) == 0
    out = capsys.readouterr().out
    assert "max: 5\n" in out and "min: 99\n" in out and "threshold: 500\n" in out, out
    assert ".0" not in out.split("metrics:")[1], out
