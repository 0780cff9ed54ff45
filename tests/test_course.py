"""The course: source notebooks in step with solutions/ and the registry, the release, real kernels."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from checker.messages import NOT_ATTEMPTED_STUB, TEST_CELL_FAILED
from checker.notebook import CheckFailed
from checker.registry import NOTEBOOKS, TOTAL_POINTS
from instructor.authoring import release as rel
from instructor import tool_env
from instructor.authoring.notebooks import ROOT, SOURCE, sync
from instructor.authoring.regions import BEGIN, regions, without_solution_regions
from instructor.grading.sample_class import Student, fill
from instructor.authoring.wrong_answers import LOOPS2
from solutions.source import entry_sources

RELEASE = ROOT / "release" / "foundations"


def cells(path: Path):
    return nbformat.read(str(path), as_version=4).cells


def test_sync_changes_nothing_in_the_committed_notebooks():
    assert sync(check_only=True) == []


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_solution_regions_are_the_solutions(notebook):
    sources = entry_sources(notebook)
    seen = set()
    for cell in cells(SOURCE / f"{notebook}.ipynb"):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            assert BEGIN in cell.source
            assert without_solution_regions(cell.source) == sources[meta["grade_id"]]
            seen.add(meta["grade_id"])
    assert seen == set(sources)


def test_points_add_up_to_100_in_the_notebooks():
    total = sum(c.metadata.get("nbgrader", {}).get("points", 0) for nb in NOTEBOOKS
                for c in cells(SOURCE / f"{nb}.ipynb") if c.metadata.get("nbgrader", {}).get("grade"))
    assert total == TOTAL_POINTS


def course_copy(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source", root / "source")
    return root


# Lines that may appear in a release although they stand in a solution: boilerplate, and what
# the catalogue itself prescribes (Module's __call__ and backward are specified line by line).
NOT_A_LEAK = {"super().__init__()", "layer.backward()", "self.out = self.forward(*args)",
              "self.bwd(self.out, *self.args)",
              # what 05's prose prescribes in words, and any loop over parameters writes
              "with torch.no_grad():", "loss.backward()", "for p in params:"}


def test_release_regenerates_identically_and_holds_no_solution(tmp_path):
    root = course_copy(tmp_path)
    paths = rel.release(root)
    assert [p.name for p in paths] == [f"{nb}.ipynb" for nb in NOTEBOOKS]
    for path in paths:
        fresh, committed = json.loads(path.read_text()), json.loads((RELEASE / path.name).read_text())
        assert fresh == committed, f"release/{path.name} is stale: run make release"
    assert rel.leaks(RELEASE) == []
    released = "\n".join((RELEASE / f"{nb}.ipynb").read_text() for nb in NOTEBOOKS)
    for notebook in NOTEBOOKS:
        for name, source in entry_sources(notebook).items():
            lines = source.splitlines()
            solution = [lines[i].strip() for first, last in regions(source) for i in range(first - 1, last)]
            for line in solution:
                if len(line) > 12 and line not in NOT_A_LEAK:  # shorter lines ("return c") are too generic
                    assert json.dumps(line)[1:-1] not in released, f"{name}: {line}"


def execute(path: Path, cwd: Path, timeout: int = 300):
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    started = time.monotonic()
    client.execute()
    return nb, time.monotonic() - started


def errors_in(nb) -> list[tuple[str, str, str]]:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr"):
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
                out.append((grade_id, o.get("ename", "stderr"), o.get("evalue", o.get("text", ""))[:200]))
    return out


# notebooks whose complete form nbgrader validate runs (every test cell passing) below; the source run covers the rest
VALIDATED = ("01_matmul", "04_modules")


@pytest.mark.slow
@pytest.mark.parametrize("notebook", [nb for nb in NOTEBOOKS if nb not in VALIDATED])
def test_source_notebook_runs_with_every_test_cell_passing(notebook, tmp_path):
    nb, seconds = execute(SOURCE / f"{notebook}.ipynb", tmp_path)
    assert errors_in(nb) == []
    print(f"{notebook}: {seconds:.1f} s")


# Run All of every untouched release notebook (test cells "not attempted", nothing raised) is
# tests/test_student_kit.py's, in the venv that has nothing but the student's wheel.


@pytest.mark.slow
def test_nbgrader_validate_lists_exactly_the_unfinished_and_failing_exercises_in_one_line_each(tmp_path):
    student = Student("s", "partial", replace={("01_matmul", "outer"): "def outer(u, v):\n    return u[None, :] * v[:, None]",
                                               ("01_matmul", "matmul_einsum"): None})
    path = tmp_path / "01_matmul.ipynb"
    nbformat.write(fill(nbformat.read(str(RELEASE / "01_matmul.ipynb"), as_version=4), "01_matmul", student), str(path))
    validate = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], capture_output=True,
                              text=True, cwd=tmp_path, timeout=600, env=tool_env())
    out = validate.stdout
    assert "VALIDATION FAILED ON 2 CELL(S)" in out, out + validate.stderr
    for line in CheckFailed(TEST_CELL_FAILED.format(name="matmul_einsum", status="not attempted", points="0/2"),
                            NOT_ATTEMPTED_STUB.format(name="matmul_einsum"))._render_traceback_():
        assert "\n    " + line + "\n" in out, (line, out)
    assert "\n    " + TEST_CELL_FAILED.format(name="outer", status="failed", points="0/2") + "\n" in out
    assert "matmul_loops" not in out.replace("(matmul_loops", "")
    assert "Traceback" not in out and 'File "' not in out and "checker/notebook.py" not in out, out


def complete_student(notebook: str):
    return fill(nbformat.read(str(RELEASE / f"{notebook}.ipynb"), as_version=4), notebook, Student("s", "complete"))


@pytest.mark.slow
def test_release_with_solutions_passes_nbgrader_validate_and_the_checker(tmp_path):
    for notebook in VALIDATED:
        path = tmp_path / f"{notebook}.ipynb"
        nbformat.write(complete_student(notebook), str(path))
        validate = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], capture_output=True,
                                  text=True, cwd=tmp_path, timeout=600, env=tool_env())
        assert "Success! Your notebook passes all the tests." in validate.stdout, validate.stdout + validate.stderr
        checker = subprocess.run([sys.executable, "-m", "checker", str(path), "--json"], capture_output=True, text=True)
        assert checker.returncode == 0, checker.stdout


@pytest.mark.slow
def test_in_notebook_check_gives_the_cli_verdicts(tmp_path):
    student = Student("s", "partial", replace={("01_matmul", "outer"): "def outer(u, v):\n    return u[None, :] * v[:, None]",
                                               ("01_matmul", "matmul_einsum"): None,
                                               ("01_matmul", "matmul_broadcast"): LOOPS2.format(name="matmul_broadcast")})
    nb = fill(nbformat.read(str(RELEASE / "01_matmul.ipynb"), as_version=4), "01_matmul", student)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json\nreport = check_all('01_matmul')\n"
        "print('VERDICTS', json.dumps({e.name: e.status for e in report.result.exercises}))"))
    path = tmp_path / "01_matmul.ipynb"
    nbformat.write(nb, str(path))
    executed, _ = execute(path, tmp_path)
    printed = "".join(o.get("text", "") for o in executed.cells[-1].outputs if o.output_type == "stream")
    in_kernel = json.loads(printed.split("VERDICTS", 1)[1])
    cli = subprocess.run([sys.executable, "-m", "checker", str(path), "--json"], capture_output=True, text=True)
    from_cli = {e["name"]: e["status"] for e in json.loads(cli.stdout)["exercises"]}
    assert in_kernel == from_cli
    assert from_cli["outer"] == "failed" and from_cli["matmul_einsum"] == "not_attempted"
    assert from_cli["matmul_broadcast"] == "failed" and from_cli["matmul_loops"] == "passed"


def test_locked_cells_fit_the_narrowest_view():
    """Every line of a generated test cell fits 79 columns (the notebook, the feedback, the formgrader)."""
    import nbformat

    from instructor.authoring.notebooks import COMMENT_WIDTH, path_of

    for notebook in NOTEBOOKS:
        nb = nbformat.read(str(path_of(notebook)), as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("foundations", {}).get("generated") == "test":
                assert all(len(line) <= COMMENT_WIDTH for line in cell.source.splitlines()), cell.source


def test_autograded_cells_keep_the_in_numbers_the_student_saw():
    """The checker names a cell by its In [n]: the feedback shows the student's numbers, not the re-run's."""
    import nbformat

    from instructor.grading.verdicts import _as_the_student_saw_them

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("m"),
                                         nbformat.v4.new_code_cell("y = 2")])
    seen = [50, None, None]
    nb.cells[0].execution_count, nb.cells[2].execution_count = 1, 2  # as the grader's kernel numbered them
    _as_the_student_saw_them(nb, seen)
    assert [c.get("execution_count") for c in nb.cells] == [50, None, None]


def test_a_notebook_added_to_an_assignment_with_submissions_is_refused_in_plain_words(tmp_path):
    """nbgrader will not change an assignment's notebooks once its gradebook has submissions (an instructor adding
    a notebook mid-term meets this): release says so and what to do, instead of nbgrader's traceback."""
    from nbgrader.api import Gradebook

    root = course_copy(tmp_path)
    rel.release(root)  # the other way first: a release with no submissions goes through
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        gb.add_student("s01")
        gb.add_submission("foundations", "s01")
    shutil.copy(root / "source" / "foundations" / "01_matmul.ipynb", root / "source" / "foundations" / "06_extra.ipynb")
    with pytest.raises(rel.ReleaseFailed) as refused:
        rel.release(root)
    assert refused.value.reason.startswith(rel.HAS_SUBMISSIONS.split("{")[0]) and "06_extra" in refused.value.reason
    assert "Traceback" not in refused.value.reason
