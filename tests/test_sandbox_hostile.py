"""Hostile submissions: each is answered quickly, costs only what it touched, and cannot raise a score."""
from __future__ import annotations

import time

import pytest

from checker import errors
from checker import messages as msg
from checker.grading import Options, grade
from checker.sandbox.runner import Limits
from tests.helpers import matches, submission, write_ipynb, cells_for

FAST = Options(limits=Limits(cell_seconds=5.0, memory_bytes=3 * 2**30))


def graded(tmp_path, notebook="01_matmul", only=None, options=FAST, **kw):
    started = time.monotonic()
    result = grade(submission(tmp_path, notebook, **kw), only=only, options=options)
    seconds = time.monotonic() - started
    assert seconds < 60, seconds
    return {e.name: e for e in result.exercises}, result


def assert_others_pass(results, *broken):
    for name, e in results.items():
        if name not in broken and e.status != "manual":
            assert e.status == "passed", (name, e.feedback)


def test_infinite_loop_in_a_function_is_an_error_for_that_exercise_only(tmp_path):
    results, _ = graded(tmp_path, replace={"outer": "def outer(u, v):\n    while True:\n        pass"},
                        only=["outer", "matmul_einsum", "frobenius_norm"])
    assert results["outer"].status == "error"
    assert matches(errors.PROBE_TIMEOUT, results["outer"].feedback)
    assert "the time limit for calling outer on a test input" in results["outer"].feedback[0]
    assert_others_pass(results, "outer")


def test_infinite_loop_at_top_level_loses_only_that_cell(tmp_path):
    results, result = graded(tmp_path, extra_cells=["while True:\n    pass"], only=["outer", "matmul_einsum"])
    assert_others_pass(results)
    assert any("time limit" in note for note in result.notes)


@pytest.mark.parametrize("code, template", [
    ("import os\n    os._exit(3)", errors.CHILD_DIED),
    ("import os\n    os.abort()", errors.CHILD_DIED),  # a crash (SIGABRT); ctypes would be tampering (test_evidence)
    ("raise SystemExit(1)", msg.RAISED_ON_VALID_INPUT),
])
def test_a_function_that_kills_its_process_is_an_error_for_that_exercise(tmp_path, code, template):
    results, _ = graded(tmp_path, replace={"outer": f"def outer(u, v):\n    {code}"},
                        only=["outer", "matmul_einsum", "frobenius_norm"])
    assert results["outer"].status in ("error", "failed")
    assert matches(template, results["outer"].feedback), results["outer"].feedback
    assert_others_pass(results, "outer")


def test_os_exit_at_top_level_loses_only_that_cell(tmp_path):
    results, result = graded(tmp_path, extra_cells=["import os\nos._exit(0)"], only=["outer", "frobenius_norm"])
    assert_others_pass(results)
    assert any("died" in note for note in result.notes)


def test_memory_bomb_is_an_error_with_the_memory_message(tmp_path):
    bomb = "def outer(u, v):\n    hoard = []\n    while True:\n        hoard.append(torch.ones(10**8))"
    results, _ = graded(tmp_path, replace={"outer": bomb}, only=["outer", "matmul_einsum"])
    assert results["outer"].status == "error"
    assert matches(msg.OUT_OF_MEMORY, results["outer"].feedback)
    assert_others_pass(results, "outer")


TAMPERING = {
    "allclose": "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
                "torch.Tensor.__eq__ = lambda *a, **k: torch.tensor(True)",
    "clock": "import time\ntime.perf_counter = lambda: 0.0\ntime.perf_counter_ns = lambda: 0",
    "checker": "import checker.compare, checker.grading, checker.sandbox.scenarios as s\n"
               "checker.compare.difference = lambda *a, **k: None\ns.pack = lambda v: {'tensor': v}\n"
               "s._perf_counter = lambda: 0.0",
    "tracer": "import torch.overrides\ntorch.overrides.TorchFunctionMode.__torch_function__ = "
              "lambda self, f, t, a=(), k=None: f(*a, **(k or {}))",
}
WRONG = {
    "outer": "def outer(u, v):\n    return u[None, :] * v[:, None]",
    "matmul_broadcast": "def matmul_broadcast(a, b):\n    c = torch.zeros(a.shape[0], b.shape[1])\n"
                        "    for i in range(a.shape[0]):\n        for j in range(b.shape[1]):\n"
                        "            c[i, j] = (a[i] * b[:, j]).sum()\n    return c.to(a.dtype)",
    "matmul_einsum": "def matmul_einsum(a, b):\n    return a @ b",
}


@pytest.fixture(scope="module")
def untampered_scores(tmp_path_factory):
    results, _ = graded(tmp_path_factory.mktemp("plain"), replace=WRONG, only=sorted(WRONG))
    return {name: e.score for name, e in results.items()}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_never_raises_a_score(tmp_path, kind, untampered_scores):
    results, _ = graded(tmp_path, replace=WRONG, extra_cells=[TAMPERING[kind]], only=sorted(WRONG))
    for name in WRONG:
        assert results[name].status == "failed", (kind, name, results[name].feedback)
        assert results[name].score <= untampered_scores[name], (kind, name)


def test_memoising_cannot_pass_the_speed_bar(tmp_path):
    memo = ("_cache = {}\n\ndef matmul_broadcast(a, b):\n    key = (tuple(a.shape), tuple(b.shape), a.dtype)\n"
            "    if key not in _cache:\n        _cache[key] = torch.einsum('ik,kj->ij', a, b)\n    return _cache[key]")
    results, _ = graded(tmp_path, replace={"matmul_broadcast": memo}, only=["matmul_broadcast"])
    assert results["matmul_broadcast"].status == "failed"
    assert results["matmul_broadcast"].score == 0


def test_syntax_error_costs_only_the_exercise_of_its_cell(tmp_path):
    results, _ = graded(tmp_path, replace={"outer": "def outer(u, v)\n    return u[:, None] * v"},
                        only=["outer", "matmul_einsum"])
    assert results["outer"].status == "error"
    assert matches(msg.DEFINING_CELL_FAILED, results["outer"].feedback)
    assert "SyntaxError" in results["outer"].feedback[0]
    assert_others_pass(results, "outer")


def test_magics_and_shell_escapes_do_not_break_loading(tmp_path):
    cells = cells_for("01_matmul", extra_cells=[
        "%time x = outer(torch.ones(2), torch.ones(3))", "%timeit -n 1 -r 1 outer(torch.ones(2), torch.ones(3))",
        "!ls", "%%time\ny = 1", "%matplotlib inline", "files = !ls"])
    path = write_ipynb(tmp_path / "01_matmul.ipynb", cells)
    result = grade(path, only=["outer", "matmul_einsum"], options=FAST)
    assert all(e.status == "passed" for e in result.exercises)
    assert result.notes == []


def test_ten_megabytes_of_output_is_truncated_and_harmless(tmp_path):
    noisy = "def outer(u, v):\n    print('x' * 10_000_000)\n    return u[:, None] * v[None, :]"
    results, _ = graded(tmp_path, replace={"outer": noisy}, extra_cells=["print('y' * 10_000_000)"],
                        only=["outer", "matmul_einsum"])
    assert_others_pass(results)


def test_empty_notebook_reports_every_exercise_not_attempted(tmp_path):
    path = write_ipynb(tmp_path / "01_matmul.ipynb", [])
    result = grade(path, options=FAST)
    assert {e.status for e in result.exercises} == {"not_attempted", "manual"}
    assert not result.all_passed


def test_untouched_stubs_are_not_attempted(tmp_path):
    from tests.helpers import stub_of
    from solutions.source import entry_sources

    sources = entry_sources("04_modules")
    results, _ = graded(tmp_path, "04_modules", replace={"MyRelu": stub_of(sources["MyRelu"]),
                                                         "TorchModel": stub_of(sources["TorchModel"])},
                        only=["MyRelu", "TorchModel", "LinearLayer"])
    assert results["MyRelu"].status == results["TorchModel"].status == "not_attempted"
    assert results["LinearLayer"].status == "passed"


@pytest.mark.parametrize("full", ["now", "at-its-peak", "never"])
def test_a_probe_that_runs_out_its_time_with_the_jail_s_memory_full_ran_out_of_memory(tmp_path, monkeypatch, full):
    """At its memory cgroup's cap the kernel reclaims instead of failing an allocation, and a memory bomb can run out
    its time there (make test, three times, under load): the jail's memory read when the time runs out tells it from
    an endless loop, what it holds now or its peak (thrashing at the cap, what it holds can dip under it). The other
    way: the same endless loop with the memory never full is the time limit's message."""
    from checker.sandbox import cgroups

    if full != "never" and not cgroups._roots(cgroups.MEMORY):
        pytest.skip("no memory cgroup on this machine: the per-process limit is the jail's memory cap")
    monkeypatch.setattr(cgroups, "memory_usage_bytes", lambda path: (2 ** 40) if full == "now" else 0)
    monkeypatch.setattr(cgroups, "memory_peak_bytes", lambda path: (2 ** 40) if full == "at-its-peak" else 0)
    loop = "def outer(u, v):\n    while True:\n        pass"
    results, _ = graded(tmp_path, replace={"outer": loop}, only=["outer"])
    assert results["outer"].status == "error", results["outer"].feedback
    expected = msg.OUT_OF_MEMORY if full != "never" else errors.PROBE_TIMEOUT
    assert matches(expected, results["outer"].feedback), results["outer"].feedback
