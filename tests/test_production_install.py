"""The production path runs without the simulator's dependencies (`pip install rampsim`, no extras).

A child process blocks simpy, scipy, pandas, matplotlib, hypothesis and dask (as if not installed),
then runs ``validate``, ``explain --promql``, ``gate --replay``, ``query --replay``, ``import argo``,
``import flagger``, ``import kayenta``, ``export``, ``lint --no-simulate`` and ``serve`` (its
``/healthz`` and a ``/rollout`` against an unreachable Prometheus): each must work. A command that
needs the simulator says which extra to install, with exit 2.
"""
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from rampsim.prod.openmetrics import write_openmetrics
from tests.gates_helpers import corpus
from tests.sim_helpers import REFERENCE as PLAN, ROOT

START = 1740787200.0

CHILD = """
import importlib.abc, sys
BLOCKED = {"simpy", "scipy", "pandas", "matplotlib", "hypothesis", "dask", "distributed"}
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Absent())
from rampsim.cli import main
code = main(sys.argv[1:])
loaded = sorted(BLOCKED & {m.partition(".")[0] for m in sys.modules})
print("LOADED", loaded, file=sys.stderr)
sys.exit(code)
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, capture_output=True, text=True)


def test_validate_explain_and_gate_run_without_the_simulator(tmp_path, healthy_telemetry):
    recording = tmp_path / "healthy.om"
    with recording.open("w") as out:
        write_openmetrics(healthy_telemetry, out, START)
    for args, code in [(["validate", str(PLAN)], 0), (["explain", str(PLAN), "--promql"], 0),
                       (["gate", str(PLAN), "--replay", str(recording)], 0)]:
        result = run(*args)
        assert result.returncode == code, (args, result.stdout[-2000:], result.stderr[-2000:])
        assert "LOADED []" in result.stderr


def test_a_simulation_command_names_the_extra_to_install():
    result = run("rehearse", str(PLAN))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "pip install 'rampsim[sim]'" in result.stderr


def test_import_export_query_and_static_lint_run_without_the_simulator(tmp_path, healthy_telemetry):
    recording = tmp_path / "healthy.om"
    with recording.open("w") as out:
        write_openmetrics(healthy_telemetry, out, START)
    argo = corpus("argo") / "AliyunContainerService__gitops-demo__analysis.yaml"
    flagger = corpus("flagger") / "2025-demo-01__svc-trading-api__k8s__canary.yaml"
    kayenta = corpus("kayenta") / ("spinnaker__kayenta__kayenta-integration-tests__src__test__resources__"
                                   "canary-configs__prometheus__integration-test-cpu.json")
    imported = tmp_path / "argo-plan.yaml"
    for args, code in [
        (["query", "sum(rampsim_requests_total)", "--replay", str(recording), "--time", str(START + 600)], 0),
        (["import", "argo", str(argo), "-o", str(imported)], 0),
        (["import", "flagger", str(flagger), "-o", str(tmp_path / "flagger-plan.yaml")], 0),
        (["import", "kayenta", str(kayenta), "-o", str(tmp_path / "kayenta-plan.yaml")], 0),
        (["export", "argo", str(imported), "-o", str(tmp_path / "template.yaml")], 0),
        (["lint", str(argo), "--no-simulate"], None),   # findings or none: it runs (0 or 1), no extra asked for
    ]:
        result = run(*args)
        assert (result.returncode in (0, 1) if code is None else result.returncode == code), \
            (args, result.stdout[-2000:], result.stderr[-2000:])
        assert "LOADED []" in result.stderr and "pip install" not in result.stderr, (args, result.stderr[-2000:])
    assert (tmp_path / "template.yaml").read_text().startswith(("apiVersion", "#", "---"))


def test_serve_answers_without_the_simulator():
    with socket.socket() as probe:   # a free port, and another one nothing listens on (the "Prometheus")
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = closed.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", CHILD, "serve", str(PLAN), "--port", str(port), "--prometheus",
                               f"http://127.0.0.1:{nowhere}", "--timeout", "1", "--attempts", "1"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    assert answer.status == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None and time.monotonic() < deadline, server.communicate()[1][-2000:]
                time.sleep(0.2)
        statuses = []
        for hook, metadata in (("pre-rollout", {"start": str(time.time() - 600)}), ("rollout", {})):
            payload = json.dumps({"name": "podinfo", "namespace": "test", "phase": "Progressing",
                                  "metadata": metadata}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/{hook}", data=payload, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        assert statuses == [200, 503]   # the ramp started; its metrics unavailable: documented answers, no crash
    finally:
        server.terminate()   # SIGTERM, as Kubernetes stops a pod: drained like Ctrl-C (it was killed mid-request)
        _, err = server.communicate(timeout=30)
    assert "Traceback" not in err and "pip install" not in err, err[-2000:]
    assert server.returncode == 130, (server.returncode, err[-2000:])
