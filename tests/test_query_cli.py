"""``rampsim query``: one instant query over a recording or a simulated run, printed as Prometheus's API prints it.

(``--prometheus`` is tested against a fake 3.x server in ``tests/test_prod_source_3x.py`` and against
the real Prometheus in ``tests/test_promql_prometheus.py``.)
"""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from rampsim.cli import main
from rampsim.faults import parse_fault
from rampsim.promql import evaluate
from rampsim.promql.exposition import Deployment, exposition_store
from rampsim.prod.openmetrics import write_openmetrics
from rampsim.prod.tickcsv import write_tick_csv
from tests.builders import steady
from tests.sim_helpers import VALIDATION

START = 1740787200.0    # 2025-03-01T00:00:00Z
ERROR_RATIO = ('sum(rate(rampsim_request_errors_total{arm="canary"}[1m])) / '
               'sum(rate(rampsim_requests_total{arm="canary"}[1m]))')


@pytest.fixture(scope="module")
def recording(tmp_path_factory, validation_plan):
    errors = np.full(81, 0.001)
    errors[40:] = 0.02
    telemetry = steady(validation_plan.layout, minutes=20, error_rate=errors)
    directory = tmp_path_factory.mktemp("recordings")
    with (directory / "run.om").open("w") as handle:
        write_openmetrics(telemetry, handle, START)
    with (directory / "run.csv").open("w") as handle:
        write_tick_csv(telemetry, handle, START)
    with gzip.open(directory / "run.om.gz", "wt") as handle:
        write_openmetrics(telemetry, handle, START)
    return directory, telemetry


def query(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = main(["query", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


@pytest.mark.parametrize("name", ["run.om", "run.csv", "run.om.gz"])
def test_a_recording_answers_as_the_api_does(recording, capsys, name):
    directory, telemetry = recording
    code, answer, _ = query(capsys, ERROR_RATIO, "--replay", str(directory / name), "--time", "2025-03-01T00:15:00Z")
    assert code == 0 and answer["resultType"] == "vector" and len(answer["result"]) == 1
    (sample,) = answer["result"]
    assert sample["metric"] == {} and sample["value"][0] == int(START) + 900
    assert float(sample["value"][1]) == pytest.approx(0.02, rel=1e-12)     # the canary's 2% errors


def test_the_time_defaults_to_the_last_sample_and_takes_unix_seconds(recording, capsys):
    directory, _ = recording
    path = str(directory / "run.om")
    _, last, _ = query(capsys, "scalar(sum(rampsim_requests_total))", "--replay", path)
    _, unix, _ = query(capsys, "scalar(sum(rampsim_requests_total))", "--replay", path, "--time", f"{START + 1200:.0f}")
    assert last == unix == {"resultType": "scalar", "result": [int(START) + 1200, str(2 * 6000 * 80)]}  # 2 arms


def test_semantics_2_and_3_differ_on_the_grid(recording, capsys):
    directory, _ = recording
    path = str(directory / "run.om")
    counts = 'count_over_time(rampsim_requests_total{arm="canary",segment="A"}[1m])'
    answers = {line: query(capsys, counts, "--replay", path, "--time", "2025-03-01T00:10:00Z", "--promql", line)[1]
               for line in ("2", "3", "2.42.0")}
    assert [answers[k]["result"][0]["value"][1] for k in ("2", "3", "2.42.0")] == ["5", "4", "5"]
    _, default, _ = query(capsys, counts, "--replay", path, "--time", "2025-03-01T00:10:00Z")
    assert default == answers["3"]


def test_series_that_do_not_exist_give_an_empty_vector(recording, capsys):
    directory, _ = recording
    code, answer, _ = query(capsys, 'http_requests_total{code="500"}', "--replay", str(directory / "run.om"))
    assert code == 0 and answer == {"resultType": "vector", "result": []}


def test_a_simulated_run_under_a_profile(capsys, validation_plan):
    from rampsim.sim import Scenario, simulate
    fault = "error-rate:canary:+2%@5m/5m"
    istio = ('sum(rate(istio_requests_total{reporter="destination",destination_workload="learn-canary",'
             'response_code=~"5.."}[1m])) / sum(rate(istio_requests_total{reporter="destination",'
             'destination_workload="learn-canary"}[1m]))')
    code, answer, _ = query(capsys, istio, "--plan", str(VALIDATION), "--profile", "istio", "--seed", "4",
                            "--fault", fault, "--time", "7m30s", "--service", "learn", "--start", "1740787200")
    assert code == 0
    scenario = Scenario.build(validation_plan, [parse_fault(fault)])
    run = simulate(validation_plan, seed=4, scenario=scenario)
    store = exposition_store(run.telemetry, "istio", start=START, deployment=Deployment(
        service="learn", pods=dict(scenario.config.service.instances)))
    expected = evaluate(istio, store, START + 450, semantics=3).to_api_json()
    assert answer == expected and float(answer["result"][0]["value"][1]) > 0.01
    # the plan's own names (the rampsim profile), time since the start, start 0 by default
    code, answer, _ = query(capsys, "sum(rampsim_requests_total)", "--plan", str(VALIDATION), "--time", "60")
    assert code == 0 and answer["result"][0]["value"][0] == 60


def test_a_healthy_start_has_no_error_series(capsys):
    http = 'sum(rate(http_requests_total{code=~"5.."}[1m]))'
    code, answer, _ = query(capsys, http, "--plan", str(VALIDATION), "--profile", "http", "--time", "15")
    assert code == 0 and answer == {"resultType": "vector", "result": []}
    code, answer, _ = query(capsys, f"{http} or vector(0)", "--plan", str(VALIDATION), "--profile", "http",
                            "--time", "15")
    assert answer["result"][0]["value"][1] == "0"


@pytest.mark.parametrize("args, code, message", [
    (["topk(2, rampsim_requests_total)", "--replay", "{om}"], 2, "outside rampsim's subset: aggregation topk"),
    (["sum(", "--replay", "{om}"], 2, "cannot parse PromQL"),
    (["x", "--replay", "{om}", "--time", "yesterday"], 2, "--time: cannot read 'yesterday'"),
    (["x", "--replay", "{om}", "--time", ""], 2, "--time: cannot read ''"),   # was the default, silently
    (["x", "--replay", "{om}", "--time", "1" + "0" * 20], 2, "--time: '100000000000000000000' is outside 1970"),
    (["x", "--replay", "{om}", "--promql", "4"], 2, "--promql"),
    (["x", "--replay", "{om}", "--profile", "istio"], 2, "--profile applies to simulated runs (--plan) only"),
    (["x", "--replay", "{om}", "--local"], 2, "--local applies to --prometheus only"),
    (["x", "--replay", "{missing}"], 5, "cannot read"),
    (["x", "--replay", "{broken}"], 5, "broken.om:3: "),
    (["x", "--plan", "{bad_plan}"], 3, "bad.yaml"),
    (["x", "--plan", str(VALIDATION), "--time", "ten minutes"], 2, "--time: with --plan"),
    (["x", "--plan", str(VALIDATION), "--fault", "error-rate:nowhere:+1%"], 2, "--fault"),
    (["x", "--prometheus", "ftp://prometheus:9090"], 2, "must start with http:// or https://"),
    (["x", "--prometheus", "http://127.0.0.1:1", "--promql", "2"], 2, "add --local"),
    (["rampsim_requests_total * on() rampsim_requests_total", "--replay", "{om}"], 2, "many-to-many"),
    (["x", "--prometheus", "http://127.0.0.1:1", "--lookback-delta", "1m"], 2, "--lookback-delta: the server"),
    (["x", "--plan", str(VALIDATION), "--time", "1e16"], 2, "--time: '1e16' after the ramp's start is past 9999"),
    (["rate(x[100000000y])", "--replay", "{om}"], 2, "duration out of range"),
    (["x offset -300000000y", "--replay", "{om}"], 2, "duration out of range"),
    (["rate(x[300y])", "--replay", "{om}"], 2, "duration out of range (at most about 292 years"),
    # positive durations that overflow: "duration must be greater than 0", a traceback (a Rust panic), one hour
    (["x[99999999999d]", "--replay", "{om}"], 2, "duration out of range (at most about 292 years, as Prometheus): "
                                                 "99999999999d"),
    (["rate(x[1e20])", "--replay", "{om}"], 2, "duration out of range (at most about 292 years, as Prometheus): "
                                               "1e20 seconds"),
    (["x offset -1e300", "--replay", "{om}"], 2, "duration out of range"),
    (["rate(x[1h4294967296m])", "--replay", "{om}"], 2, "duration out of range"),
    ([f"rate(x[0x{'f' * 300}])", "--replay", "{om}"], 2, "duration out of range"),   # float() of it overflowed
    (["rate(x[4294967296ms])", "--replay", "{om}"], 2, "duration 4294967296ms: rampsim's parser reads at most "
                                                       "4,294,967,295 of a unit; write it with larger units, "
                                                       "7w17h2m47s296ms"),
    (["(" * 1000 + "1" + ")" * 1000, "--replay", "{om}"], 2, "nested more than 200 levels"),
    (["+".join(["x"] * 2000), "--replay", "{om}"], 2, "nested more than 200 levels"),
    (["1" + "+1" * 5000, "--replay", "{om}"], 2, "nested more than 200 levels"),   # crashed the parser (SIGSEGV)
])
def test_bad_input_is_refused_with_a_located_message(recording, tmp_path, capsys, args, code, message):
    directory, _ = recording
    (tmp_path / "broken.om").write_text("# TYPE x counter\nx_total 1 1740787200\nx_total{ 2 1740787215\n# EOF\n")
    (tmp_path / "bad.yaml").write_text("name: bad\nphases: nope\n")
    paths = {"om": str(directory / "run.om"), "missing": str(tmp_path / "nothing.om"),
             "broken": str(tmp_path / "broken.om"), "bad_plan": str(tmp_path / "bad.yaml")}
    try:
        result = main(["query", *[a.format(**paths) for a in args]])
    except SystemExit as exc:     # argparse refuses a malformed option value itself
        result = exc.code
    captured = capsys.readouterr()
    assert result == code
    assert message in captured.err, captured.err
    assert not captured.out


ONE_AND_MANY = """many_side{l="foo",job="t"} 0 100
many_side{l="bar",job="t"} 1 100
one_side{job="t"} 1 100
g{i="0"} 0.1 100
g{i="1"} -8 100
g{i="2"} -Inf 100
tiny 1e-7 100
huge 1e22 100
# EOF
"""


@pytest.fixture()
def small(tmp_path):
    path = tmp_path / "small.om"
    path.write_text(ONE_AND_MANY)
    return str(path)


def test_vector_values_switch_to_exponent_form_as_prometheus_json_does(small, capsys):
    """``jsonutil.MarshalFloat``: 'e' below 1e-6 and from 1e21 in magnitude; a scalar is always 'f'."""
    assert query(capsys, "tiny", "--replay", small)[1]["result"][0]["value"][1] == "1e-07"
    assert query(capsys, "--replay", small, "--", "-huge")[1]["result"][0]["value"][1] == "-1e+22"
    assert query(capsys, "tiny * 10", "--replay", small)[1]["result"][0]["value"][1] == "0.000001"
    assert query(capsys, "scalar(tiny)", "--replay", small)[1]["result"][1] == "0.0000001"


def test_power_follows_go_math_pow_whatever_the_number_of_series(small, capsys):
    """numpy's vectorised ``power`` read ``0.1 ^ 2`` as 0.01 and ``-Inf ^ 0.5`` as NaN beside other series. The
    expected values are a real Prometheus 2.42's answers."""
    code, answer, _ = query(capsys, "g ^ 0.5", "--replay", small)
    assert code == 0
    values = {r["metric"]["i"]: r["value"][1] for r in answer["result"]}
    assert values == {"0": "0.31622776601683794", "1": "NaN", "2": "+Inf"}
    assert query(capsys, 'g{i="0"} ^ 2', "--replay", small)[1]["result"][0]["value"][1] == "0.010000000000000002"
    assert query(capsys, "g ^ 2", "--replay", small)[1]["result"][0]["value"][1] == "0.010000000000000002"
    # Go's repeated squaring, not C's pow (0.09515169444917146): the answer of a real Prometheus 2.42
    assert query(capsys, "vector(0.77) ^ 9", "--replay", small)[1]["result"][0]["value"][1] == "0.09515169444917142"


def test_many_to_many_names_the_group_and_the_two_series_as_prometheus_does(small, capsys):
    code, _, err = query(capsys, "one_side + on(job) many_side", "--replay", small)
    assert code == 2
    assert ('found duplicate series for the match group {job="t"} on the right hand-side of the operation: '
            '[{__name__="many_side", job="t", l="foo"}, {__name__="many_side", job="t", l="bar"}];'
            'many-to-many matching not allowed: matching labels must be unique on one side') in err
