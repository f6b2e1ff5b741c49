"""Damaged and hostile files: each refused with its documented exit code and a located message, quickly.

Plan, mix and naming YAML: exit 3 (too large, too deep, alias bombs, tags, not UTF-8).
Recordings (OpenMetrics, tick CSV, gzip of either) for ``gate``, ``calibrate`` and
``backtest``: exit 5 (impossible timestamps, not UTF-8, no samples, damaged gzip). Never a
traceback (exit 70), never a hang.
"""
from __future__ import annotations

import gzip
import re
import time
from pathlib import Path

import pytest

from rampsim.cli import EXIT_INTERNAL_ERROR, main
from rampsim.prod.replay import load_recording
from tests.sim_helpers import REFERENCE

PLAN = str(REFERENCE)
INVALID, UNAVAILABLE = 3, 5
START = 1740787200  # 2025-03-01T00:00:00Z
SERIES = 'rampsim_requests_total{arm="baseline",segment="A"}'
CSV_HEADER = 'timestamp,"rampsim_requests_total{arm=""baseline"",segment=""A""}"\n'


def run(capsys, *argv: str) -> tuple[int, str]:
    """Exit code and standard error of ``rampsim argv``."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code != EXIT_INTERNAL_ERROR and "Traceback" not in err, err
    return code, err


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return str(path)


def openmetrics(*samples: str) -> str:
    """An OpenMetrics recording of the reference plan's first series: one ``value timestamp`` per sample."""
    return "# TYPE rampsim_requests counter\n" + "".join(f"{SERIES} {s}\n" for s in samples) + "# EOF\n"


def tick_csv(*rows: str) -> str:
    return CSV_HEADER + "".join(f"{row}\n" for row in rows)


def located(name: str, line: int | str | None, message: str) -> re.Pattern:
    """``name:line: message`` (``name: message`` without a line) at the start of a word, anywhere in stderr."""
    where = re.escape(name) + (f":{line}" if line else "")
    return re.compile(rf"(^|[\s/]){where}: .*{message}", re.M)


# -- plans, mixes and namings ------------------------------------------------------------------

def alias_bomb(levels: int) -> list[str]:
    """``levels`` anchors of 9 aliases each to the one before: 9**levels values once expanded."""
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return lines


@pytest.mark.parametrize("text, line", [
    ("name: x\nphases: " + "[" * 3000 + "]" * 3000 + "\n", 2),
    ("name: x\n" + "".join(" " * i + f"k{i}:\n" for i in range(70)) + " " * 70 + "v\n", 65),
], ids=["flow-lists", "block-mappings"])
def test_a_plan_nested_too_deep_is_refused_with_its_line(tmp_path, capsys, text, line):
    code, err = run(capsys, "validate", write(tmp_path, "deep.yaml", text))
    assert code == INVALID
    assert located("deep.yaml", line, "nested more than 64 levels deep").search(err), err


@pytest.mark.parametrize("text", [
    pytest.param("\n".join(alias_bomb(10)) + "\n", marks=pytest.mark.slow, id="9-levels-of-9"),
    pytest.param("name: x\nunknown_key:\n" + "".join(f"  {line}\n" for line in alias_bomb(7)),
                 id="6-levels-unknown-key"),
])
def test_an_alias_bomb_is_refused_quickly(tmp_path, capsys, text):
    path = write(tmp_path, "bomb.yaml", text)
    began = time.perf_counter()
    code, err = run(capsys, "validate", path)
    assert time.perf_counter() - began < 5
    assert code == INVALID
    assert located("bomb.yaml", r"\d+", "too large: more than 100,000 values once aliases are expanded").search(err)


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path, capsys):
    code, err = run(capsys, "validate", write(tmp_path, "loop.yaml", "name: x\nphases: &p [1, *p]\n"))
    assert code == INVALID
    assert located("loop.yaml", 2, r"alias \*p inside its own anchor").search(err), err


def test_a_plan_over_the_size_limit_is_refused_unread(tmp_path, capsys):
    path = write(tmp_path, "huge.yaml", "name: x\n" + ("# padding\n" * 110_000))
    began = time.perf_counter()
    code, err = run(capsys, "validate", path)
    assert time.perf_counter() - began < 5
    assert code == INVALID
    assert located("huge.yaml", None, r"too large: more than 1 MiB").search(err), err


@pytest.mark.parametrize("content, line, byte, offset", [
    ("name: x\ndescription: café\n".encode("latin-1"), 2, 0xE9, 24),
    (bytes(range(256)) * 4, 2, 0x80, 128),
], ids=["latin-1", "random-bytes"])
def test_a_plan_that_is_not_utf8_names_the_byte(tmp_path, capsys, content, line, byte, offset):
    code, err = run(capsys, "validate", write(tmp_path, "plan.yaml", content))
    assert code == INVALID
    assert located("plan.yaml", line, re.escape(f"not UTF-8 text (byte 0x{byte:02x} at offset {offset})")).search(err)


def test_a_plan_with_a_utf8_bom_is_valid(tmp_path, capsys):
    code, _ = run(capsys, "validate", write(tmp_path, "bom.yaml", b"\xef\xbb\xbf" + REFERENCE.read_bytes()))
    assert code == 0


@pytest.mark.parametrize("value, shown", [
    ("!!python/object/apply:os.system ['touch {marker}']", "!!python/object/apply:os.system"),
    ("!!python/name:os.system", "!!python/name:os.system"),
    ("!include other.yaml", "!include"),
    ("!include [other.yaml]", "!include"),
    ("!!str 10%", "!!str"),
], ids=["python-apply", "python-name", "include", "include-on-a-list", "standard-tag"])
def test_tags_are_refused_never_resolved(tmp_path, capsys, value, shown):
    marker = tmp_path / "executed"
    path = write(tmp_path, "tagged.yaml", f"name: x\nphases: {value.format(marker=marker)}\n")
    code, err = run(capsys, "validate", path)
    assert code == INVALID
    assert located("tagged.yaml", 2, re.escape(f"tags are not supported ({shown})")).search(err), err
    assert not marker.exists()


def test_a_value_yaml_cannot_construct_is_located(tmp_path, capsys):
    code, err = run(capsys, "validate", write(tmp_path, "date.yaml", "name: x\ndescription: 2025-13-01\n"))
    assert code == INVALID
    assert located("date.yaml", 2, "cannot read '2025-13-01': month must be in 1..12").search(err), err


def test_a_control_character_is_located(tmp_path, capsys):
    code, err = run(capsys, "validate", write(tmp_path, "ctrl.yaml", "name: x\ndescription: a\x01b\n"))
    assert code == INVALID
    assert located("ctrl.yaml", 2, "unacceptable character #x0001").search(err), err


def test_naming_and_mix_files_are_refused_alike(tmp_path, capsys):
    naming = write(tmp_path, "naming.yaml", "labels: !!python/name:os.system\n")
    code, err = run(capsys, "gate", PLAN, "--replay", "x.om", "--naming", naming)
    assert code == INVALID
    assert located("naming.yaml", 1, "tags are not supported").search(err), err
    mix = write(tmp_path, "mix.yaml", "\n".join(alias_bomb(7)) + "\n")
    code, err = run(capsys, "check", PLAN, "--mix", mix, "--max-false-rollback", "1%")
    assert code == INVALID
    assert located("mix.yaml", r"\d+", "too large").search(err), err


# -- recordings --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["+Inf", "-Inf", "NaN"])
def test_non_finite_counter_values_are_read(tmp_path, value):
    series = load_recording(write(tmp_path, "run.om", openmetrics(f"1 {START}", f"{value} {START + 15}")))
    assert str(series[0].values[1]) == str(float(value))


@pytest.mark.parametrize("name, text, line, message", [
    ("run.om", openmetrics(f"1 {START}", "2 -15"), 3, "timestamp -15 is before 1970"),
    ("run.om", openmetrics(f"1 {START}", "2 NaN"), 3, "timestamp NaN is not a number of seconds"),
    ("run.om", openmetrics(f"1 {START}000"), 2, "timestamps look like milliseconds"),
    ("run.csv", tick_csv(f"{START}000,1", f"{START + 15}000,2"), 2, "timestamps look like milliseconds"),
    ("run.csv", tick_csv(f"{START},1", "1969-12-31T23:59:45Z,2"), 3, "timestamp 1969-12-31T23:59:45Z is before 1970"),
    ("run.csv", tick_csv(f"{START},1", f"{START + 15},abc"), 3, f"column 2 ({SERIES}): 'abc' is not a number"),
], ids=["om-negative", "om-nan", "om-milliseconds", "csv-milliseconds", "csv-1969", "csv-cell-not-a-number"])
def test_impossible_timestamps_are_refused_with_their_line(tmp_path, capsys, name, text, line, message):
    code, err = run(capsys, "gate", PLAN, "--replay", write(tmp_path, name, text))
    assert code == UNAVAILABLE
    assert located(name, line, re.escape(message)).search(err), err


@pytest.mark.parametrize("name, content, line, byte, offset", [
    ("run.om", b"# HELP rampsim_requests caf\xe9\n" + openmetrics(f"1 {START}").encode(), 1, 0xE9, 27),
    ("run.om.gz", gzip.compress(b"# HELP rampsim_requests caf\xe9\n" + openmetrics(f"1 {START}").encode()), 1,
     0xE9, 27),
    ("run.csv", tick_csv(f"{START},1").encode() + b"1740787215,\xff\n", 3, 0xFF, len(tick_csv(f"{START},1")) + 11),
    ("run.om", bytes(range(256)) * 4, 2, 0x80, 128),
], ids=["om-comment", "om-gzip", "csv-cell", "random-bytes"])
def test_an_undecodable_recording_names_line_and_byte(tmp_path, capsys, name, content, line, byte, offset):
    code, err = run(capsys, "gate", PLAN, "--replay", write(tmp_path, name, content))
    assert code == UNAVAILABLE
    assert located(name, line, re.escape(f"not UTF-8 text (byte 0x{byte:02x} at offset {offset})")).search(err)


@pytest.mark.parametrize("name, content, message", [
    ("run.om", "# EOF\n", "no samples in the recording"),
    ("run.csv", CSV_HEADER, "no samples in the recording"),
    ("run.csv", tick_csv(f"{START},", f"{START + 15},"), "no samples in the recording"),
    ("run.om", "", "the file is empty"),
    ("run.csv", "", "the file is empty"),
    ("run.csv.gz", gzip.compress(b""), "the file is empty"),
], ids=["only-eof", "only-header", "only-empty-cells", "empty-om", "empty-csv", "empty-gzip"])
def test_a_recording_without_samples_is_unavailable(tmp_path, capsys, name, content, message):
    code, err = run(capsys, "gate", PLAN, "--replay", write(tmp_path, name, content))
    assert code == UNAVAILABLE
    assert located(name, None, message).search(err), err


@pytest.mark.parametrize("name, text", [
    ("run.om.gz", openmetrics(*(f"{i} {START + 15 * i}" for i in range(2000)))),
    ("run.csv.gz", tick_csv(*(f"{START + 15 * i},{i}" for i in range(2000)))),
], ids=["openmetrics", "csv"])
def test_a_truncated_gzip_is_unavailable(tmp_path, capsys, name, text):
    data = gzip.compress(text.encode())
    code, err = run(capsys, "gate", PLAN, "--replay", write(tmp_path, name, data[: len(data) // 2]))
    assert code == UNAVAILABLE
    assert located(name, None, "truncated or damaged gzip data").search(err), err


def test_a_csv_the_csv_module_cannot_split_is_located(tmp_path, capsys):
    path = write(tmp_path, "run.csv", tick_csv(f"{START},1", f'{START + 15},"' + "9" * 200_000))
    code, err = run(capsys, "gate", PLAN, "--replay", path)
    assert code == UNAVAILABLE
    assert located("run.csv", 3, "not CSV: field larger than field limit").search(err), err


@pytest.mark.parametrize("name, text", [
    ("run.csv", tick_csv(f"{START},1", f"{START + 15},2")),
    ("run.om", openmetrics(f"1 {START}", f"2 {START + 15}")),
], ids=["csv", "openmetrics"])
def test_a_recording_with_a_utf8_bom_is_read(tmp_path, capsys, name, text):
    path = write(tmp_path, name, b"\xef\xbb\xbf" + text.encode())
    code, err = run(capsys, "gate", PLAN, "--replay", path, "--at", "2025-03-01T00:00:30Z")
    assert code in (0, 4), err
    assert [len(s.values) for s in load_recording(path)] == [2]


@pytest.mark.parametrize("command", ["calibrate", "backtest"])
@pytest.mark.parametrize("name, content, message", [
    ("history.csv", tick_csv(f"{START}000,1", f"{START + 15}000,2"), "history.csv:2: .*look like milliseconds"),
    ("history.csv", tick_csv(f"{START},1").encode() + b"1740787215,\xff\n", "history.csv:3: not UTF-8 text"),
    ("history.csv.gz", gzip.compress(tick_csv(f"{START},1").encode())[:-8], "history.csv.gz: truncated"),
], ids=["milliseconds", "not-utf8", "truncated-gzip"])
def test_history_commands_refuse_damaged_recordings(tmp_path, capsys, command, name, content, message):
    code, err = run(capsys, command, PLAN, "--replay", write(tmp_path, name, content))
    assert code == UNAVAILABLE
    assert re.search(message, err), err


def test_a_history_spanning_decades_is_refused_before_allocating(tmp_path, capsys):
    path = write(tmp_path, "history.csv", tick_csv("0,1", f"{START},2"))
    code, err = run(capsys, "calibrate", PLAN, "--replay", path)
    assert code == UNAVAILABLE
    assert "history unavailable: the history spans 20,148 days" in err and "read a shorter stretch" in err, err


def test_validate_reads_the_plan_once_so_a_pipe_works(capsys):
    """``rampsim validate <(cat plan.yaml)``: the plan was read twice (once to see whether it is a mix), and the
    second read of the pipe found it empty: 'name: missing required field' on a valid plan (a FIFO hung)."""
    import os
    import threading

    from tests.sim_helpers import VALIDATION

    read, write = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write, VALIDATION.read_bytes()), os.close(write)))
    writer.start()
    try:
        assert main(["validate", f"/dev/fd/{read}"]) == 0
    finally:
        writer.join()
        os.close(read)
    assert "valid plan 'ramp-phase-5k-validation'" in capsys.readouterr().out
