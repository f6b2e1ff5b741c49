"""Running a sweep: replicates in chunks on any executor, saved as they finish.

Each replicate is one open-loop simulation of one mix scenario; every gate of the
grid is judged on its telemetry (common random numbers) by the compiled
judge (all of a chunk at once). A replicate's randomness comes from ``SeedSequence(seed, spawn_key=
(scenario, replicate))`` alone, so results are identical whatever the executor,
the number of workers or the order chunks finish in. The driver folds each finished
chunk into the sweep's :class:`~rampsim.experiment.tally.Tally` and drops it, unless the
runs are kept: what it holds does not grow with the replicates.

With an output directory, each finished chunk is written atomically (a temporary
file, then a rename) next to a manifest of the sweep; running the same sweep
again loads the chunks already there and runs only the rest, so a sweep stopped
by Ctrl-C or a kill loses at most the chunks in flight. Each chunk file carries
the sweep's key, its own position (scenario, first and last replicate) and a
sha256 of its bytes: a truncated, damaged or foreign chunk is recomputed, with a
notice on stderr, never mixed in.
"""
from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import pickle
import sys
import tempfile
import time
import zipfile
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, Union, cast

import numpy as np

from rampsim.errors import DataUnavailable, Interrupted, UsageError, whole_number, write_error
from rampsim import __version__
from rampsim.engine.judge import KINDS, CompiledGates
from rampsim.experiment.axes import Axis
from rampsim.experiment.main_guard import unguarded_script_line
from rampsim.experiment.mix import Mix, allocate
from rampsim.plan.loader import plan_from_document
from rampsim.plan.schema import IMPORTED_GATES, Plan
from rampsim.plan.source import Document
from rampsim.sim.streams import DRAW_SCHEME

if TYPE_CHECKING:
    from rampsim.experiment.engine_gates import EngineGates
    from rampsim.experiment.tally import Tally
    from rampsim.sim.simulation import Fidelity

__all__ = ["SweepSpec", "Chunk", "DamagedChunk", "SweepInterrupted", "WorkersLost", "run_chunks", "compile_grid",
           "local_executor", "output_directory", "writing", "write_atomically", "KINDS", "CHUNK_SIZE", "plan_digest"]

CHUNK_SIZE = 10
_CHUNK_FORMAT = 5  # a header (the sweep key, the position), a checksum, environment incidents, fault onsets (5:
#                    the start of the faults that cause the incident, not of any fault); older: recomputed
_CHECKSUM_SIZE = 32  # a sha256 digest after the npz bytes
_IN_FLIGHT = 512  # chunks submitted to the executor ahead of those folded (enough to keep a cluster busy)
_PAYLOAD = ("kind", "time", "source", "harmed", "exposed", "incident", "environment", "incident_start", "onset")


class SweepInterrupted(Interrupted):
    """The sweep was stopped; finished chunks are saved and a rerun continues from them."""


class WorkersLost(DataUnavailable):
    """A worker process or the cluster's scheduler went away mid-sweep; finished chunks are saved and a rerun
    continues from them."""


class DamagedChunk(DataUnavailable):
    """A saved chunk that cannot be used: unreadable, damaged, or another sweep's (it is recomputed)."""


@dataclass(frozen=True)
class SweepSpec:
    """Everything that determines a sweep's results, in plain data (it travels to workers)."""

    plan_filename: str
    plan_data: dict
    axes: tuple[Axis, ...]
    scenarios: tuple[tuple[str, tuple[Any, ...]], ...]  # (name, faults)
    shares: tuple[float, ...]
    replicates: int
    seed: int
    fidelity: str

    @classmethod
    def of(cls, plan: Plan, mix: Mix, axes: Sequence[Axis], replicates: int, seed: int,
           fidelity: str = "fluid") -> "SweepSpec":
        if plan.source is None:
            raise UsageError("a sweep needs a plan loaded with load_plan, plan_from_text or plan_from_data")
        seed, replicates = whole_number("seed", seed), whole_number("replicates", replicates, 1)
        if fidelity not in ("fluid", "request"):
            raise UsageError(f"fidelity must be 'fluid' or 'request', got {fidelity!r}")
        data = plan.source.data
        scenarios = tuple((s.name, tuple(s.faults)) for s in mix.scenarios)
        return cls(plan.source.filename, data, tuple(axes), scenarios, tuple(float(x) for x in mix.shares), replicates,
                   seed, fidelity)

    @property
    def key(self) -> str:
        """A digest of the spec but its replicate count: saved chunks serve any count (see :func:`allocate`)."""
        scenarios = [(name, [f.model_dump(mode="json") for f in faults]) for name, faults in self.scenarios]
        blob = json.dumps({"plan": self.plan_data, "axes": [(a.path, a.values) for a in self.axes],
                           "scenarios": scenarios, "shares": self.shares,
                           "seed": self.seed, "fidelity": self.fidelity, "chunk": CHUNK_SIZE,
                           "draw_scheme": DRAW_SCHEME},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def tasks(self) -> list[tuple[int, int, int]]:
        """``(scenario, first replicate, end)`` for every chunk, in a fixed order."""
        counts = allocate(self.replicates, np.array(self.shares))
        return [(s, start, min(start + CHUNK_SIZE, int(count)))
                for s, count in enumerate(counts) for start in range(0, int(count), CHUNK_SIZE)]


@dataclass
class Chunk:
    """Outcomes of some replicates of one scenario for every gate: arrays ``(replicates, gates)``."""

    scenario: int
    start: int
    kind: np.ndarray           # int8 index into KINDS
    time: np.ndarray           # decision time (NaN when none)
    source: np.ndarray         # int16 index into the sweep's source names (-1 when none)
    harmed: np.ndarray         # harmed canary requests up to the decision
    exposed: np.ndarray        # canary requests up to the decision
    incident: np.ndarray       # (replicates,) ground truth: an incident the gate must stop (Truth.counted)
    environment: np.ndarray    # (replicates,) an environment incident reported on its own (Truth.environment)
    incident_start: np.ndarray  # (replicates,) NaN when healthy
    onset: np.ndarray           # (replicates,) when an incident's first fault began acting (NaN otherwise)

    @property
    def stop(self) -> int:
        """One past the last replicate."""
        return self.start + len(self.incident)

    def save(self, path: Path, key: str) -> None:
        """Write the chunk atomically: an npz with a header (``key``, the sweep's, and the chunk's
        position) and the arrays, followed by the sha256 of those bytes."""
        header = {"format": _CHUNK_FORMAT, "key": key, "draw_scheme": DRAW_SCHEME, "scenario": self.scenario,
                  "start": self.start,
                  "stop": self.stop}
        buffer = io.BytesIO()
        np.savez(buffer, header=np.array(json.dumps(header)), **{name: getattr(self, name) for name in _PAYLOAD})
        payload = buffer.getvalue()
        write_atomically(path, payload + hashlib.sha256(payload).digest())

    @classmethod
    def load(cls, path: Path, key: str, scenario: int, start: int, stop: int) -> "Chunk":
        """The chunk at ``path`` if it holds replicates ``start..stop`` of ``scenario`` of sweep ``key``.

        Raises :class:`DamagedChunk` saying why it cannot be used.
        """
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DamagedChunk(f"unreadable ({exc.strerror or exc})") from None
        payload, checksum = data[:-_CHECKSUM_SIZE], data[-_CHECKSUM_SIZE:]
        if len(data) <= _CHECKSUM_SIZE or hashlib.sha256(payload).digest() != checksum:
            raise DamagedChunk("truncated or damaged (its checksum does not match), or written by an older rampsim")
        try:
            with zipfile.ZipFile(io.BytesIO(payload)) as archive:
                arrays = {name.removesuffix(".npy"): np.lib.format.read_array(archive.open(name), allow_pickle=False)
                          for name in archive.namelist()}
            header = json.loads(str(arrays.pop("header")))
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise DamagedChunk(f"unreadable ({exc})") from None
        if not isinstance(header, dict) or header.get("format") != _CHUNK_FORMAT or sorted(arrays) != sorted(_PAYLOAD):
            raise DamagedChunk("not a chunk of this rampsim version")
        if header.get("draw_scheme", 1) != DRAW_SCHEME:
            raise DamagedChunk(f"drawn with draw scheme {header.get('draw_scheme', 1)} by another rampsim version; "
                               f"this one draws with scheme {DRAW_SCHEME}, so its results are not mixed in")
        if header.get("key") != key:
            raise DamagedChunk(f"a chunk of another sweep (key {header.get('key')}, this one {key})")
        position = [header.get(name) for name in ("scenario", "start", "stop")]
        if position != [scenario, start, stop]:
            raise DamagedChunk(f"holds scenario {position[0]}, replicates {position[1]}..{position[2]}, "
                               f"not scenario {scenario}, replicates {start}..{stop}")
        return cls(scenario, start, **arrays)


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` into ``path`` through a temporary file and a rename: a reader sees all of it or none."""
    temporary: Optional[Path] = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                         delete=False) as handle:
            temporary = Path(handle.name)
            handle.write(data)
        os.chmod(temporary, 0o666 & ~_umask())   # as open() would create it (a temporary file is 0600)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise write_error(path, exc) from None


def _umask() -> int:
    """The process's umask: from ``/proc/self/status`` on Linux, else by setting it and setting it back (to the most
    restrictive value meanwhile, so a file another thread creates then is never more open than intended)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def source_names(plan: Plan) -> list[str]:
    """Every source a terminal decision can come from, in a fixed order (an imported gate's: its controller)."""
    return ([f"rule:{name}" for name in plan.rules] + [f"checkpoint:{name}" for name, _ in plan.ordered_checkpoints()]
            + list(IMPORTED_GATES))


# -- the worker side ------------------------------------------------------------------

_WORKER_CACHE: dict[str, tuple] = {}


Gates = Union[CompiledGates, "EngineGates"]


def gates_for(plans: Sequence[Plan]) -> Gates:
    """The grid's gates ready to judge runs: compiled, or their engines for imported gates."""
    if plans[0].imported_gate is None:
        return CompiledGates(plans)
    from rampsim.experiment.engine_gates import EngineGates   # the gates package, only for imported gates
    from rampsim.gates.plan_sections import gate_of
    gate_of(plans[0])
    return EngineGates(plans)


def compile_grid(spec: SweepSpec) -> Gates:
    """Every gate of ``spec``'s grid, validated and compiled (the driver does it once and ships it)."""
    from rampsim.experiment.axes import expand

    return gates_for([p.plan for p in expand(_base_plan(spec), spec.axes)])


def _base_plan(spec: SweepSpec) -> Plan:
    return plan_from_document(Document(data=spec.plan_data, filename=spec.plan_filename))


def _prepared(spec: SweepSpec, gates: Gates) -> tuple[list, list[str], tuple[str, ...]]:
    """The built scenarios of ``spec``, its source names and the histograms to draw, made once per process."""
    from rampsim.sim.scenario import Scenario

    key = spec.key
    if key not in _WORKER_CACHE:
        plan = _base_plan(spec)
        scenarios = [Scenario.build(plan, faults) for _, faults in spec.scenarios]
        _WORKER_CACHE.clear()
        _WORKER_CACHE[key] = (scenarios, source_names(plan), _histogram_arms(gates))
    return _WORKER_CACHE[key]


def _histogram_arms(gates: Gates) -> tuple[str, ...]:
    """The arms whose latency histogram some gate reads: the only ones a replicate draws."""
    layout, read = gates.layout, set(gates.read_counters.tolist())
    return tuple(arm for a, arm in enumerate(layout.arms)
                 if read & set(layout.channels("latency_bucket", arm=a).ravel().tolist()))


class GatesParcel:
    """A grid's gates as they travel to workers: pickled once on the driver, unpickled once per worker process.

    Sent with every chunk, the gates themselves were pickled by the driver for each chunk
    and unpickled by a worker for each (milliseconds a chunk at 1,000 gates, beside a
    chunk's 10-20 ms of work). A parcel holds the pickled bytes and their digest; a
    worker keeps the gates of the last digest it opened. On a Dask cluster the parcel is
    scattered to the workers once, so the scheduler holds no copy per chunk.
    """

    def __init__(self, gates: Gates) -> None:
        self.payload = pickle.dumps(gates, protocol=pickle.HIGHEST_PROTOCOL)
        self.digest = hashlib.sha256(self.payload).hexdigest()

    def opened(self) -> Gates:
        """The gates (unpickled in this process only the first time)."""
        if self.digest not in _OPENED:
            _OPENED.clear()
            _OPENED[self.digest] = pickle.loads(self.payload)
        return _OPENED[self.digest]


_OPENED: dict[str, Gates] = {}


def _shipped(parcel: GatesParcel, executor: Executor) -> Any:
    """What to send with each chunk: on a Dask cluster (its ``get_executor()``), ``parcel`` scattered to every
    worker once; on any other executor, ``parcel`` itself."""
    client = getattr(executor, "_client", None) if "distributed" in sys.modules else None
    if client is None or not hasattr(client, "scatter"):
        return parcel
    return client.scatter(parcel, broadcast=True, hash=False)


def replicate_seed(seed: int, scenario: int, replicate: int) -> int:
    """The seed of one replicate: independent of chunking, executor and worker count."""
    return int(np.random.SeedSequence(seed, spawn_key=(scenario, replicate)).generate_state(1, np.uint64)[0])


def run_chunk(spec: SweepSpec, gates: Gates | GatesParcel, scenario: int, start: int, stop: int) -> Chunk:
    """Simulate replicates ``start..stop`` of one scenario and judge every gate on all of them at once."""
    from rampsim.sim.outcome import served_until
    from rampsim.sim.simulation import simulate

    if isinstance(gates, GatesParcel):
        gates = gates.opened()
    scenarios, sources, histograms = _prepared(spec, gates)
    runs = [simulate(scenarios[scenario].plan, seed=replicate_seed(spec.seed, scenario, replicate),
                     fidelity=cast("Fidelity", spec.fidelity), engine_factory=None, scenario=scenarios[scenario],
                     histograms=histograms)
            for replicate in range(start, stop)]
    verdicts = gates.judge([run.telemetry for run in runs])
    lookup = np.array([sources.index(name) for name in verdicts.sources] + [-1], np.int16)
    times = runs[0].telemetry.time
    harmed = np.stack([served_until(times, run.harmed, t) for run, t in zip(runs, verdicts.time)])
    exposed = np.stack([served_until(times, run.canary_requests, t) for run, t in zip(runs, verdicts.time)])
    for (r, g), in_force in verdicts.steered.items():   # a controller held the canary: the weights it served
        run, until = runs[r], verdicts.time[r, g:g + 1]
        scale = np.divide(in_force, run.weights, out=np.ones(len(times)), where=(run.weights > 0) & ~np.isnan(in_force))
        harmed[r, g] = np.rint(served_until(times, run.harmed * scale, until)[0])
        exposed[r, g] = np.rint(served_until(times, run.canary_requests * scale, until)[0])
    return Chunk(scenario, start, kind=verdicts.kind, time=verdicts.time, source=lookup[verdicts.source],
                 harmed=harmed, exposed=exposed,
                 incident=np.array([run.truth.counted for run in runs]),
                 environment=np.array([run.truth.environment for run in runs]),
                 incident_start=np.array([run.truth.start if run.truth.counted else np.nan for run in runs]),
                 onset=np.array([run.truth.onset if run.truth.counted and run.truth.onset is not None else np.nan
                                 for run in runs]))


# -- the driver side --------------------------------------------------------------------

def local_executor(workers: Optional[int] = None) -> Executor:
    """A process pool of ``workers`` (all cores by default), started with spawn (safe beside threads), whose
    workers exit when the process that started them dies (a sweep killed by ``timeout``, a cancelled CI job or the
    out-of-memory killer left them running, idle, for good)."""
    if workers is not None:
        workers = whole_number("workers", workers, 1)
    return ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))


def _exit_with_parent(parent: int) -> None:
    """In a worker: a daemon thread that ends the process once ``parent`` is gone (it is then re-parented)."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="rampsim-exit-with-parent", daemon=True).start()


def run_chunks(spec: SweepSpec, tally: "Tally", out: Optional[Path] = None, executor: Optional[Executor] = None,
               workers: Optional[int] = None, on_chunk: Optional[Callable[[int, int], None]] = None,
               gates: Optional[Gates] = None, replace: bool = False, keep_runs: bool = False) -> list[Chunk]:
    """Fold every chunk of ``spec`` into ``tally``: loaded from ``out`` when saved there, else run. Returns the
    chunks themselves, in task order, when ``keep_runs``; else none (each is dropped once folded and saved, so
    the memory held does not grow with the replicates).

    ``gates`` is the grid compiled (:func:`compile_grid`), when the caller has it; workers
    receive it as a :class:`GatesParcel` (opened once per process) instead of validating every grid plan again.

    ``workers=1`` without an executor runs in this process. ``on_chunk(done, total)``
    is called after each chunk (a progress bar). ``out`` holding another sweep's chunks is an error,
    unless ``replace``: then they are deleted first, with a notice. Ctrl-C raises :class:`SweepInterrupted`
    after saving what finished. A saved chunk that cannot be used is recomputed,
    with a notice on stderr.
    """
    tasks = spec.tasks()
    kept: dict[int, Chunk] = {}
    paths: list[Optional[Path]] = [None] * len(tasks)
    pending = list(range(len(tasks)))

    def fold(i: int, chunk: Chunk) -> None:
        tally.fold(chunk)
        if keep_runs:
            kept[i] = chunk

    if out is not None:
        directory = _chunk_directory(Path(out), spec, replace)
        pending = []
        for i, (scenario, start, stop) in enumerate(tasks):
            path = paths[i] = directory / f"s{scenario:03d}-r{start:06d}-{stop:06d}.npz"
            saved = _saved_chunk(path, spec.key, scenario, start, stop)
            if saved is None:
                pending.append(i)
            else:
                fold(i, saved)
    compiled = gates if gates is not None or not pending else compile_grid(spec)
    assert compiled is not None or not pending
    done = len(tasks) - len(pending)
    if on_chunk:
        on_chunk(done, len(tasks))

    def finished(i: int, chunk: Chunk) -> None:
        nonlocal done
        path = paths[i]
        if path is not None:
            chunk.save(path, spec.key)
        fold(i, chunk)
        done += 1
        if on_chunk:
            on_chunk(done, len(tasks))

    unguarded = unguarded_script_line() if pending and executor is None and workers != 1 else None
    if unguarded is not None:
        _notice(f"running the sweep in this process: {sys.modules['__main__'].__file__}, line {unguarded}, calls it "
                f"outside `if __name__ == \"__main__\":`, and a process pool's workers would run that script "
                f"again (put the call under the guard to use every core)")
    if pending and executor is None and (workers == 1 or unguarded is not None):
        try:
            for i in pending:
                finished(i, run_chunk(spec, cast(Gates, compiled), *tasks[i]))
        except KeyboardInterrupt:
            raise SweepInterrupted(f"stopped after {done} of {len(tasks)} chunks") from None
    elif pending:
        owned = executor is None
        pool = executor or local_executor(workers)
        futures: dict[Future, int] = {}
        queue = iter(pending)
        try:
            parcel = _shipped(GatesParcel(cast(Gates, compiled)), pool)
            while True:  # at most _IN_FLIGHT chunks submitted and not yet folded: a finished one is dropped
                for i in islice(queue, _IN_FLIGHT - len(futures)):
                    futures[pool.submit(run_chunk, spec, parcel, *tasks[i])] = i
                if not futures:
                    break
                for future in wait(futures, return_when=FIRST_COMPLETED).done:
                    finished(futures.pop(future), future.result())
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            if owned:
                pool.shutdown(wait=False, cancel_futures=True)
            raise SweepInterrupted(f"stopped after {done} of {len(tasks)} chunks") from None
        except Exception as exc:   # a worker killed (BrokenProcessPool), a cluster's scheduler or worker lost
            if not _lost_worker(exc):
                raise
            for future in futures:
                future.cancel()
            said = ": " + str(exc).splitlines()[0][:160] if str(exc) else ""
            cause = ("no chunk finished: a worker could not start (a script read from stdin cannot be imported by "
                     "one: save it to a file) or was killed" if done == 0 else
                     "killed, or out of memory; if it happens again at the same point, a chunk crashes it: "
                     "rampsim --debug")
            raise WorkersLost(f"a worker process or the scheduler was lost ({type(exc).__name__}{said}) after {done} "
                              f"of {len(tasks)} chunks ({cause})") from None
        finally:
            if owned:
                pool.shutdown(wait=True, cancel_futures=True)
    return [kept[i] for i in sorted(kept)]


def _lost_worker(exc: BaseException) -> bool:
    """Whether ``exc`` says the executor lost a worker or its scheduler (not a failure of rampsim's own code)."""
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(exc, BrokenProcessPool):
        return True
    module = type(exc).__module__ or ""
    return module.startswith("distributed") and type(exc).__name__ in (
        "CommClosedError", "FutureCancelledError", "CancelledError") or (
        module.startswith(("distributed", "tornado")) and isinstance(exc, (OSError, EOFError)))
    # not KilledWorker: Dask raises it when the task itself killed worker after worker (a crash to report)


def _saved_chunk(path: Path, key: str, scenario: int, start: int, stop: int) -> Optional[Chunk]:
    """The chunk saved at ``path`` when it is usable, else ``None`` (after a notice when a file is there)."""
    if not path.exists():
        return None
    try:
        return Chunk.load(path, key, scenario, start, stop)
    except DamagedChunk as exc:
        _notice(f"{path}: {exc}; recomputing it")
        return None


def _notice(message: str) -> None:
    print(f"rampsim: {message}", file=sys.stderr)


def output_directory(path: Path) -> Path:
    """``path`` as a directory that takes files (made when missing); a :class:`UsageError` naming it otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as exc:
        raise write_error(path, exc) from None
    return path


@contextmanager
def writing(directory: Path) -> Iterator[None]:
    """Report a file under ``directory`` that cannot be written as an error naming it (:func:`write_error`)."""
    try:
        yield
    except OSError as exc:
        raise write_error(directory, exc) from None


SWEEP_OUTPUTS = ("tally.npz", "runs.csv.gz", "grid.csv", "sweep.json", "summary.csv", "report.html", "tradeoff.png",
                 "detection.png", "heatmap.png", "operating-curve.png")
"""The files a sweep and its report write in its directory (beside ``chunks/`` and ``sweep-spec.json``)."""


def _chunk_directory(out: Path, spec: SweepSpec, replace: bool = False) -> Path:
    """``out/chunks``, after checking that ``out`` holds no other sweep (its manifest), or deleting
    the other sweep's chunks when ``replace``."""
    directory = output_directory(output_directory(out) / "chunks")
    manifest = out / "sweep-spec.json"
    saved = _manifest_key(manifest)
    if saved is not None and saved[0] != spec.key and replace:
        _notice(f"{out} held another sweep (another plan, grid, mix, seed or rampsim draw scheme): "
                f"replacing its chunks")
        for chunk in directory.glob("*.npz"):
            chunk.unlink()
        for name in SWEEP_OUTPUTS:   # its results too: nothing of the old sweep may pass for the new one's
            (out / name).unlink(missing_ok=True)
        manifest.unlink()
        saved = None
    if saved is None:
        write_atomically(manifest, json.dumps({"key": spec.key, "version": __version__, "draw_scheme": DRAW_SCHEME},
                                               indent=2).encode())
    elif saved[0] != spec.key and saved[1] != DRAW_SCHEME:
        raise UsageError(f"{out} holds the chunks of a sweep drawn with draw scheme {saved[1]} by another rampsim "
                         f"version; this one draws with scheme {DRAW_SCHEME}, and results of two schemes are never mixed: "
                         f"delete {out}, replace it (--force) or choose another output directory")
    elif saved[0] != spec.key:
        raise UsageError(f"{out} holds the chunks of another sweep (key {saved[0]}, this one "
                         f"{spec.key}); choose another output directory, delete it, or replace it (--force)")
    return directory


def _manifest_key(manifest: Path) -> Optional[tuple[str, int]]:
    """The sweep key and draw scheme recorded in ``manifest``; ``None`` when there is none (or it is damaged:
    a notice)."""
    if not manifest.exists():
        return None
    try:
        text = manifest.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {manifest}: {exc.strerror or exc}; remove it or choose another output "
                         f"directory") from None
    try:
        saved = json.loads(text)
    except ValueError:
        saved = None
    key = saved.get("key") if isinstance(saved, dict) else None
    scheme = saved.get("draw_scheme", 1) if isinstance(saved, dict) else None
    if not isinstance(key, str) or not isinstance(scheme, int):
        _notice(f"{manifest}: damaged; writing it again (each chunk is checked against this sweep's key)")
        return None
    return key, scheme


def plan_digest(data: Any) -> str:
    """A digest of a plan's data (what ``sweep.json`` records, to recognise the swept plan when a report reads it
    again)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def spec_metadata(spec: SweepSpec, mix: Mix) -> dict[str, Any]:
    """What a results file records about how it was made: the plan's file as an absolute path, with its digest."""
    plan = spec.plan_filename if spec.plan_filename.startswith("<") else os.path.abspath(spec.plan_filename)
    return {"plan": plan, "plan_digest": plan_digest(spec.plan_data), "mix": mix.source or mix.name,
            "scenarios": [s for s, _ in spec.scenarios], "fault_free": [s for s, faults in spec.scenarios if not faults],
            "shares": list(spec.shares), "grid": {a.path: list(a.values) for a in spec.axes},
            "replicates": spec.replicates, "seed": spec.seed, "fidelity": spec.fidelity, "key": spec.key,
            "draw_scheme": DRAW_SCHEME,
            "rampsim_version": __version__}
