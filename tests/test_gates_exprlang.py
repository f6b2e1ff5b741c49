"""The expr-lang subset of Argo's conditions (``utils/evaluate/evaluate.go``, ``EvalCondition``; expr's checker).

Each test names the behaviour of Argo's or expr's source it reproduces.
"""
from __future__ import annotations

import math

import pytest

from rampsim.gates.exprlang import (
    ConditionRuntimeError, ConditionSyntaxError, ConditionTypeError, UnsupportedCondition, check_condition,
    evaluate_condition, names_used, threshold_literals, with_threshold,
)


@pytest.mark.parametrize("condition, result, expected", [
    ("result[0] >= 0.95", [0.97], True),
    ("result[0] >= 0.95", [0.90], False),
    ("result[0] < 0.01", [0.0], True),
    ("result[0] == 0", [0.0], True),
    ("result >= 0.95", 0.97, True),                      # a scalar query: result is a float64
    ("len(result) == 0 || result[0] < 0.01", [], True),
    ("len(result) > 0 && result[0] > 5", [], False),
    ("result[0] >= 0.95 || len(result) == 0", [0.99], True),
    ("isNaN(result[0]) || result[0] > 0.9", [math.nan], True),
    ("isInf(result[0])", [math.inf], True),
    ("asInt(result) >= 1", 2.0, True),
    ("asFloat(result) < 0.5", 0.25, True),
    ("not (result[0] > 1)", [0.5], True),
    ("!(result[0] > 1) and true", [0.5], True),
    ("result[0] * 100 >= 95", [0.96], True),
    ("result[-1] > 1", [0.0, 2.0], True),                 # expr counts negative indexes from the end
    ("all(result, {# > 0.9})", [0.95, 0.99], True),
    ("any(result, {# < 0.5})", [0.95, 0.99], False),
    ("result[0] > 1 ? true : false", [2.0], True),
    ("true", [1.0], True),
    ("isNil(result)", None, True),
])
def test_conditions_evaluate_as_expr_does(condition, result, expected):
    assert evaluate_condition(condition, result) is expected


def test_bare_result_against_a_vector_is_a_compile_error_every_time():
    # expr's checker: '>=' needs number/number; []float64 vs float64 is "mismatched types" (EvalCondition: Compile)
    for value in ([0.99], [0.5], []):
        with pytest.raises(ConditionTypeError, match=r"mismatched types \[\]float64 and float64"):
            evaluate_condition("result >= 0.95", value)
    with pytest.raises(ConditionTypeError):
        evaluate_condition("result == 0", [0.0])


def test_index_of_an_empty_vector_is_a_runtime_error():
    # vm/runtime.Fetch: "index out of range"
    with pytest.raises(ConditionRuntimeError, match="index out of range"):
        evaluate_condition("result[0] >= 0.95", [])
    # '||' evaluates left to right: the guard must come first
    with pytest.raises(ConditionRuntimeError):
        evaluate_condition("result[0] >= 0.95 || len(result) == 0", [])


def test_default_does_not_guard_an_empty_vector():
    # Argo's defaultFunc fires only when result is nil; an empty vector is a non-nil empty slice
    with pytest.raises(ConditionRuntimeError):
        evaluate_condition("default(result, 0) >= 1", [])
    assert evaluate_condition("isNil(result)", []) is False


def test_nan_makes_every_comparison_false():
    for condition in ("result[0] >= 0.95", "result[0] < 0.95", "result[0] == 0.95"):
        assert evaluate_condition(condition, [math.nan]) is False
    assert evaluate_condition("result[0] != 0.95", [math.nan]) is True
    assert evaluate_condition("result[0] >= 0.9", [math.inf]) is True  # TestProcessInfResponse


def test_unknown_names_and_fields_are_type_errors():
    with pytest.raises(ConditionTypeError, match="unknown name args"):
        evaluate_condition("result < args.threshold", [1.0])        # H7: args without {{ }}
    with pytest.raises(ConditionTypeError, match="has no field Status"):
        evaluate_condition("result.Status == 1", [1.0])
    with pytest.raises(ConditionTypeError, match="cannot fetch"):
        evaluate_condition("result[0] > 1", 2.0)                    # indexing a scalar


def test_asint_of_a_vector_fails_at_run_time():
    # Argo's asInt panics on a type it does not convert; the checker lets it through (it takes 'any')
    check_condition("asInt(result) >= 1", "floats")
    with pytest.raises(ConditionRuntimeError):
        evaluate_condition("asInt(result) >= 1", [2.0])


def test_a_condition_must_return_a_bool():
    with pytest.raises(ConditionRuntimeError, match="expected bool"):
        evaluate_condition("result[0]", [1.0])


def test_syntax_errors_name_the_condition_and_position():
    with pytest.raises(ConditionSyntaxError) as caught:
        evaluate_condition("result[0] >= ", [1.0])
    assert caught.value.position == 13 and "result[0] >= " in str(caught.value)
    with pytest.raises(ConditionSyntaxError):
        evaluate_condition("result[0] >= 0.9 )", [1.0])


@pytest.mark.parametrize("condition", ["result | len() > 0", "result[0:2]", "let x = 1; x > 0", "map(result, {#})[0] > 1"])
def test_valid_expr_outside_the_subset_is_refused_not_guessed(condition):
    with pytest.raises(UnsupportedCondition):
        evaluate_condition(condition, [1.0])


def test_no_python_eval_of_user_text():
    with pytest.raises((ConditionSyntaxError, ConditionTypeError, UnsupportedCondition)):
        evaluate_condition("__import__('os').system('true')", [1.0])


def test_thresholds_are_the_numbers_compared_with_a_value_of_result():
    assert [v for _, _, v in threshold_literals("len(result) == 0 || result[0] >= 0.95")] == [0.95]
    assert with_threshold("len(result) == 0 || result[0] >= 0.95", 0.99) == "len(result) == 0 || result[0] >= 0.99"
    assert with_threshold("result[0] < -5", 3) == "result[0] < 3"
    assert names_used("result < args.threshold") == ["result", "args"]


# -- expr's own syntax, read as expr reads it (a review of the lexer and parser, expr v1.17) --------------------

@pytest.mark.parametrize("condition, result, expected", [
    ("0.95 <= result[0] <= 1", [0.97], True),          # a chain: 0.95 <= r && r <= 1 (expr >= 1.16)
    ("0.95 <= result[0] <= 1", [1.2], False),
    ("0 < result[0] < 1 < 2", [0.5], True),
    ("1 < 2 == true", [], True),                       # == does not chain: (1 < 2) == true
    ("result[0] >= 0.95 // the SLO", [0.97], True),     # comments
    ("result[0] /* p99 */ >= 0.95", [0.97], True),
    ("0b11 == 3 && 0o17 == 15 && 0x1F == 31", [], True),
    ("result[0] >= 1.", [1.0], True),                   # a float with a trailing dot
    ("all(result, # > 0.9)", [0.95, 0.97], True),       # a predicate without braces
    ("any(result, # > 0.9)", [0.5, 0.6], False),
    ("(result[0] ?? 0) > 0.5", [1.0], True),
])
def test_expr_syntax_reads_as_expr_reads_it(condition, result, expected):
    """A review found a chained comparison read left to right (bool <= int: every measurement Error, the gate
    simulated as aborting every release) and comments, ``0b``/``0o``, ``1.`` and brace-less predicates refused."""
    assert evaluate_condition(condition, result) is expected


@pytest.mark.parametrize("condition, message", [
    ("result[0] ?? 0 > 0.5", "cannot be mixed"),        # expr refuses to compile it
    ("result[0] > 1e999", "float literal is too large"),
    ("result[0] > 9223372036854775808", "integer literal is too large"),
    ("result[0] > 1 /* open", "unclosed comment"),
    ("result[0] > 1x", "bad number syntax"),
])
def test_what_expr_refuses_to_compile_is_a_syntax_error(condition, message):
    with pytest.raises(ConditionSyntaxError, match=message):
        evaluate_condition(condition, [1.0])


@pytest.mark.parametrize("condition", ["(" * 400 + "true" + ")" * 400, "!" * 600 + "true",
                                       " + ".join(["result[0]"] * 3000) + " > 0"])
def test_deep_nesting_is_refused_as_outside_the_subset_never_a_crash(condition):
    """A review found 400 parentheses crashing import and lint (RecursionError, exit 70)."""
    with pytest.raises(UnsupportedCondition, match="nesting deeper than 100 levels"):
        evaluate_condition(condition, [1.0])


def test_a_chain_has_a_threshold_at_each_end():
    assert [value for _, _, value in threshold_literals("0.95 <= result[0] <= 1")] == [0.95, 1.0]
