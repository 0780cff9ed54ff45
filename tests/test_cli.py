"""The fixed command-line contract: python -m checker PATH [--only NAME ...] [--json]."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from checker import errors
from checker import submission as submission_reasons
from checker.registry import entries
from tests.helpers import stub_of, submission, template_regex
from solutions.source import entry_sources


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "checker", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    sources = entry_sources("01_matmul")
    return submission(tmp_path_factory.mktemp("partial"), "01_matmul", replace={
        "outer": stub_of(sources["outer"]),
        "matmul_einsum": "def matmul_einsum(a, b):\n    return a @ b",
    })


def test_json_has_exactly_the_contract_shape(partial):
    proc = run(partial, "--json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert set(data) == {"notebook", "score", "max_score", "exercises"}
    assert data["notebook"] == "01_matmul"
    assert [e["name"] for e in data["exercises"]] == [e.name for e in entries("01_matmul")]
    for e in data["exercises"]:
        assert set(e) == {"name", "status", "score", "max_score", "feedback"}
        assert isinstance(e["score"], float) and isinstance(e["max_score"], float)
        assert all(isinstance(line, str) for line in e["feedback"])
    status = {e["name"]: e["status"] for e in data["exercises"]}
    assert status["outer"] == "not_attempted"
    assert status["matmul_einsum"] == "failed"
    assert status["matmul_loops"] == "passed"
    assert status["q_inner_dimensions"] == "manual"
    assert data["max_score"] == 25.0
    assert data["score"] == sum(e["score"] for e in data["exercises"])


def test_gradescope_results_json_has_only_its_documented_fields(partial):
    """``--format gradescope``: Gradescope's autograder results (top level and per test, the documented fields
    only), every autograded exercise a test, written questions left to Gradescope's outline."""
    from checker import gradescope

    proc = run(partial, "--format", "gradescope")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) <= set(gradescope.TOP_FIELDS) and {"score", "tests", "execution_time"} <= set(data)
    assert isinstance(data["execution_time"], int) and isinstance(data["score"], float)
    autograded = [e.name for e in entries("01_matmul") if not e.name.startswith("q_")]
    assert [t["name"] for t in data["tests"]] == autograded
    for t in data["tests"]:
        assert set(t) <= set(gradescope.TEST_FIELDS) and t["status"] in gradescope.TEST_STATUSES
        assert isinstance(t["score"], float) and 0 <= t["score"] <= t["max_score"]
    tests = {t["name"]: t for t in data["tests"]}
    assert tests["matmul_loops"]["status"] == "passed" and tests["matmul_loops"]["score"] > 0
    assert tests["matmul_einsum"]["status"] == "failed" and "calls matmul" in tests["matmul_einsum"]["output"]
    assert tests["outer"]["status"] == "failed" and tests["outer"]["score"] == 0
    assert data["score"] == sum(t["score"] for t in data["tests"])
    assert run(partial, "--format", "yaml").returncode == 2  # an unknown format is the arguments' error


def test_gradescope_says_tampering_once_per_place(tmp_path):
    from checker import messages as msg

    path = submission(tmp_path, "01_matmul", extra_cells=["import gc\nfor _o in gc.get_objects():\n    pass\n"])
    data = json.loads(run(path, "--only", "outer", "--format", "gradescope").stdout)
    prefix = msg.TAMPERING_NOTE.split("{")[0]
    assert prefix in data["output"] and prefix * 2 not in data["output"], data["output"]


def test_gradescope_still_gets_results_json_when_the_notebook_cannot_be_read(tmp_path):
    """A student's upload named otherwise: exit 2 as always, and results.json says why (Gradescope shows only it)."""
    from checker import gradescope

    import shutil

    from instructor.authoring.notebooks import ROOT

    odd = tmp_path / "01_matmul (2).ipynb"
    shutil.copy(ROOT / "release" / "foundations" / "01_matmul.ipynb", odd)
    proc = run(odd, "--format", "gradescope")
    assert proc.returncode == 2 and "cannot tell which lesson notebook" in proc.stderr
    data = json.loads(proc.stdout)
    assert data["score"] == 0.0 and data["tests"] == [] and set(data) <= set(gradescope.TOP_FIELDS)
    assert "cannot tell which lesson notebook" in data["output"] and gradescope.UNREADABLE_ADVICE in data["output"]


def test_table_shows_one_feedback_line_under_each_failure(partial):
    proc = run(partial, "--quiet")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if " matmul_einsum " in line)
    assert "failed" in lines[row]
    assert "calls matmul" in lines[row + 1]
    assert "not attempted" in next(line for line in lines if " outer " in line)


def test_exit_zero_when_every_exercise_passes(tmp_path):
    proc = run(submission(tmp_path, "01_matmul"), "--only", "outer", "matmul_einsum", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [e["name"] for e in json.loads(proc.stdout)["exercises"]] == ["matmul_einsum", "outer"]


@pytest.mark.parametrize("make, template", [
    (lambda p: p / "missing.ipynb", errors.UNREADABLE),
    (lambda p: (p / "01_matmul.ipynb").write_text("{not json") and p / "01_matmul.ipynb", errors.UNREADABLE),
    (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", errors.UNREADABLE),
    (lambda p: (p / "homework.py").write_text("x = 1\n") and p / "homework.py", errors.UNKNOWN_NOTEBOOK),
])
def test_unreadable_input_exits_2_with_one_line(tmp_path, make, template):
    proc = run(make(tmp_path))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert template_regex(template).search(proc.stderr), proc.stderr


def _released_with(edit):
    from instructor.authoring.notebooks import ROOT
    nb = json.loads((ROOT / "release" / "foundations" / "01_matmul.ipynb").read_text())
    edit(nb)
    return nb


def _code_cell(nb):
    return next(c for c in nb["cells"] if c["cell_type"] == "code" and "def outer" in "".join(c["source"]))


# attack round 19: notebooks valid as JSON that made the checker print a traceback and exit 1
MALFORMED = {
    "nested-3000-deep": (lambda p: p.write_text(json.dumps(_released_with(lambda nb: None))[:-1] + ', "x": '
                                                + "[" * 3000 + "]" * 3000 + "}"), submission_reasons.NESTED_TOO_DEEP),
    "lone-surrogate": (lambda p: p.write_text(json.dumps(_released_with(
        lambda nb: _code_cell(nb)["source"].append("# \ud800\n")))), "a lone surrogate"),
    "source-holds-a-number": (lambda p: p.write_text(json.dumps(_released_with(
        lambda nb: _code_cell(nb)["source"].append(7)))), "is not text"),
    # attack round 21: 500,000 lines of `a=1` after an honest answer made the grader itself take 2 GB and a minute
    "a-cell-of-30000-lines": (lambda p: p.write_text(json.dumps(_released_with(
        lambda nb: _code_cell(nb)["source"].append("\na = 1" * 30_000)))), "more than the checker reads"),
    "a-cell-of-300-KiB": (lambda p: p.write_text(json.dumps(_released_with(
        lambda nb: _code_cell(nb)["source"].append("\nx = '" + "y" * 300 * 1024 + "'")))), "more than the checker reads"),
    # attack round 23: a chain of 1,400 functions, each keeping what it is given and calling the next, made the
    # source reading cost the square of their number (274 s of the grader's CPU for one notebook)
    "a-chain-of-1400-functions": (lambda p: p.write_text(json.dumps(_released_with(
        lambda nb: _code_cell(nb)["source"].append("".join(
            f"\nkept{i} = []\ndef k{i}(f):\n    kept{i}.append(f)\n    return k{i + 1}(f)\n" for i in range(1400)))))),
        "functions and classes"),
}


def test_code_just_under_the_checkers_limits_is_read_and_graded(tmp_path):
    """The other way: a notebook padded to just under both limits is graded as any other (exit 0 or 1, verdicts)."""
    from checker.submission import MAX_CODE_BYTES, MAX_CODE_LINES

    def pad(nb):
        lines = sum("".join(c["source"]).count("\n") + 1 for c in nb["cells"] if c["cell_type"] == "code")
        size = sum(len("".join(c["source"]).encode()) for c in nb["cells"] if c["cell_type"] == "code")
        lines_left = MAX_CODE_LINES - lines - 10
        _code_cell(nb)["source"].append("\n" + "#" * ((MAX_CODE_BYTES - size - 2 * lines_left) // lines_left)
                                        + ("\n#" * lines_left))

    path = tmp_path / "01_matmul.ipynb"
    path.write_text(json.dumps(_released_with(pad)))
    proc = run(path, "--only", "outer", "--json")
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["exercises"][0]["name"] == "outer", proc.stdout


def test_a_chain_of_functions_under_the_limit_is_read_and_graded(tmp_path):
    """The other way: as many definitions as the checker reads, in the same chain, are read and graded."""
    from checker.submission import MAX_DEFINITIONS

    chain = "".join(f"\nkept{i} = []\ndef k{i}(f):\n    kept{i}.append(f)\n    return k{i + 1}(f)\n"
                    for i in range(MAX_DEFINITIONS - 30))
    path = tmp_path / "01_matmul.ipynb"
    path.write_text(json.dumps(_released_with(lambda nb: _code_cell(nb)["source"].append(chain))))
    proc = run(path, "--only", "outer", "--json")
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["exercises"][0]["name"] == "outer", proc.stdout


@pytest.mark.parametrize("id", sorted(MALFORMED))
def test_a_malformed_notebook_exits_2_with_its_reason(tmp_path, id):
    write, reason = MALFORMED[id]
    path = tmp_path / "01_matmul.ipynb"
    write(path)
    proc = run(path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1 and reason in proc.stderr, proc.stderr


def test_cell_metadata_that_is_not_a_mapping_is_read_past_and_a_cell_too_deep_to_parse_is_its_error(tmp_path):
    path = tmp_path / "01_matmul.ipynb"
    path.write_text(json.dumps(_released_with(lambda nb: nb["cells"][1].__setitem__("metadata", "x"))))
    proc = run(path, "--only", "outer", "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    deep = "def outer(u, v):\n    z = u[:, None] * 0" + " + 0" * 3000 + "\n    return z * v[None, :]\n"
    proc = run(submission(tmp_path, "01_matmul", replace={"outer": deep}, suffix=".ipynb"), "--only", "outer", "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["exercises"][0]["status"] in ("error", "failed"), proc.stdout


def test_notebook_option_names_a_renamed_file(tmp_path):
    path = submission(tmp_path, "01_matmul")
    renamed = path.rename(tmp_path / "my_homework.py")
    proc = run(renamed, "--notebook", "01_matmul", "--only", "outer", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["notebook"] == "01_matmul"


def test_unknown_exercise_name_exits_2(tmp_path):
    proc = run(submission(tmp_path, "01_matmul"), "--only", "matmul_magic")
    assert proc.returncode == 2
    assert template_regex(errors.UNKNOWN_EXERCISE).search(proc.stderr)
    assert "matmul_broadcast" in proc.stderr  # it lists the names that exist


def test_short_table_shows_the_hint_and_hides_the_other_lines():
    """A hint names the classic mistake: the short report shows it beside the first line; other lines stay
    behind the count of what --verbose adds."""
    from checker import messages as msg, render
    from checker.results import ExerciseResult, NotebookResult
    hint = msg.HINT_STEP_GENERATOR
    first = msg.STEP_GRADS_KEPT.format(input="a small model", index=0)
    detail = "input: a small model"
    result = NotebookResult("05_training", [ExerciseResult("sgd_step", "failed", 0, 3, [first, detail, hint])])
    lines = render.text(result).splitlines()
    assert any(first in line for line in lines) and any(hint in line for line in lines)
    assert not any(detail in line for line in lines)
    assert any("(+1 more: --verbose)" in line for line in lines)
    verbose = render.text(result, verbose=True)
    assert detail in verbose and "more: --verbose" not in verbose
    no_hint = NotebookResult("05_training", [ExerciseResult("sgd_step", "failed", 0, 3, [first, detail])])
    assert hint not in render.text(no_hint) and "(+1 more: --verbose)" in render.text(no_hint)


def test_every_hint_begins_as_the_short_table_expects():
    from checker import messages as msg
    hints = [v for k, v in vars(msg).items() if k.startswith("HINT_") and k != "HINT_PREFIX" and isinstance(v, str)]
    assert hints and all(h.startswith(msg.HINT_PREFIX) for h in hints), \
        [h for h in hints if not h.startswith(msg.HINT_PREFIX)]


def test_student_text_cannot_draw_rows_of_its_own_in_the_report():
    """An exception message of hers with a line break, a carriage return, an ESC sequence, Unicode's line separator
    or a right-to-left override is shown escaped: one feedback line stays one line of the report, in order."""
    from checker import messages as msg, render
    from checker.results import ExerciseResult, NotebookResult
    forged = ("raised ValueError: x\n     ok  outer  passed  2/2\r01_matmul: 25/25 points\x1b[2K\u2028fake"
              "\u202eLIAF\u2066")
    result = NotebookResult("01_matmul", [ExerciseResult("outer", "failed", 0, 2, [forged])])
    shown = render.text(result)
    assert len(shown.splitlines()) == len(render.text(NotebookResult(
        "01_matmul", [ExerciseResult("outer", "failed", 0, 2, ["raised ValueError: x"])])).splitlines())
    assert not any(c in shown for c in "\r\x1b\u2028\u202e\u2066")
    assert msg.CONTROL_SHOWN.format(code=0x0a) in shown and msg.UNICODE_CONTROL_SHOWN.format(code=0x202e) in shown
    honest = "on u (3,): values differ at [0, 1]: expected 0.5, got 0.25 — µs ±"
    assert honest in render.text(NotebookResult("01_matmul", [ExerciseResult("outer", "failed", 0, 2, [honest])]))
