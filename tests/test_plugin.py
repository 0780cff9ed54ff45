"""The pytest plugin, run against fake student submissions with pytester."""
from __future__ import annotations

import pytest

from checker import messages as msg
from checker import pytest_plugin
from checker.registry import Exercise, entries
from solutions.source import entry_sources
from tests.helpers import cells_for, stub_of, template_regex, write_py

pytest_plugins = ["pytester"]


def checks_in(notebook):
    return sum(len(e.checks) for e in entries(notebook) if isinstance(e, Exercise))


@pytest.fixture
def matmul_file(pytester):
    sources = entry_sources("01_matmul")
    cells = cells_for("01_matmul", replace={
        "matmul_einsum": "def matmul_einsum(a, b):\n    return a @ b",
        "outer": stub_of(sources["outer"]),
    })
    return write_py(pytester.path / "01_matmul.py", cells)


def test_one_test_per_check_with_verdicts(pytester, matmul_file):
    result = pytester.runpytest_subprocess("--submission", str(matmul_file), "-p", "no:cacheprovider")
    n = checks_in("01_matmul")
    outer_checks = len(next(e for e in entries("01_matmul") if e.name == "outer").checks)
    result.assert_outcomes(passed=n - outer_checks - 1, failed=1 + outer_checks)
    text = result.stdout.str()
    assert template_regex(msg.FORBIDDEN_OP).search(text)
    assert "Traceback" not in text


def test_marker_per_exercise(pytester, matmul_file):
    result = pytester.runpytest_subprocess("--submission", str(matmul_file), "-m", "matmul_broadcast")
    broadcast = next(e for e in entries("01_matmul") if e.name == "matmul_broadcast")
    result.assert_outcomes(passed=len(broadcast.checks))
    result.stdout.fnmatch_lines([f"*collected {checks_in('01_matmul')} items / * deselected / {len(broadcast.checks)} selected*"])


def test_keyword_selection(pytester, matmul_file):
    result = pytester.runpytest_subprocess("--submission", str(matmul_file), "-k", "speed", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*matmul_elementwise::speed PASSED*", "*matmul_broadcast::speed PASSED*"])


def test_not_attempted_fails_with_the_reason(pytester, matmul_file):
    """Asked for an exercise still a stub, pytest says "not attempted" and fails (it used to skip: exit 0)."""
    result = pytester.runpytest_subprocess("--submission", str(matmul_file), "-m", "outer")
    outer_checks = len(next(e for e in entries("01_matmul") if e.name == "outer").checks)
    result.assert_outcomes(failed=outer_checks)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*outer [[]*not attempted yet: outer still raises NotImplementedError*"])


def test_unreadable_submission_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess("--submission", str(pytester.path / "nope.ipynb"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot read*nope.ipynb*no such file*"])


def test_options_are_documented():
    assert pytest_plugin.SUBMISSION_HELP and pytest_plugin.NOTEBOOK_HELP
