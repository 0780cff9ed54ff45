"""A new notebook from the scaffold to a graded student, with no other file edited (issue 23's proof).

The kit is copied to a temporary folder and run from there (its packages first on the path), so the
repository is left alone: new-notebook, new-exercise and new-question write the notebook's three files;
the test fills in only what an author writes (the reference, the expected value, the cases, the model
answer); then sync, release, catalogue --check, the checker (the reference passes, a wrong answer fails),
prove, a class autograded, and the registry's own tests, all with the fifth notebook present.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checker.registry import NOTEBOOK_POINTS, NOTEBOOKS
from instructor.authoring import scaffold as authoring
from instructor.authoring.notebooks import ROOT

KIT_PARTS = ("checker", "instructor", "solutions", "source", "release", "docs", "tests", "nbgrader_config.py",
             "pyproject.toml")
REFERENCE = ("    shifted = x - x.max(dim=-1, keepdim=True).values\n"
             "    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()")
EXPECTED = "    return torch.log_softmax(x, dim=-1)"
# what an author adds to the scaffold's cases: the logits the exercise is about (large and very negative)
CASES = ('("float64", randn(g, 3, 2, dtype=torch.float64))]',
         '("float64", randn(g, 3, 2, dtype=torch.float64)),\n'
         '             ("large logits", randn(g, 3, 4) * 1e4), ("very negative", randn(g, 2, 5) - 1e5)]')
WRONG = ("import torch\nfrom torch import Tensor\n\ndef loss_log_softmax(x: Tensor) -> Tensor:\n"
         "    return x - x.exp().sum(dim=-1, keepdim=True).log()\n")  # no max shift: inf for large logits
RIGHT = ("import torch\nfrom torch import Tensor\n\ndef loss_log_softmax(x: Tensor) -> Tensor:\n"
         "    m = x.amax(dim=-1, keepdim=True)\n    return x - m - (x - m).exp().sum(dim=-1, keepdim=True).log()\n")


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    root = tmp_path_factory.mktemp("kit")
    for part in KIT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, root / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / part)
    return root


def instructor(root: Path, *argv: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("FOUNDATIONS_DB_URL", None)
    return subprocess.run([sys.executable, "-m", *argv], cwd=root, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _fill(path: Path, marker: str, text: str) -> None:
    source = path.read_text()
    assert marker in source, (path, marker)
    path.write_text(source.replace(marker, text))


@pytest.fixture(scope="module")
def scaffolded(kit):
    before = {p: p.read_bytes() for p in kit.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    for argv in (("new-notebook", "06_loss", "Losses"),
                 ("new-exercise", "06_loss", "loss_log_softmax", "--points", "21", "--summary",
                  "log of softmax over the last axis, stable for large logits"),
                 ("new-question", "06_loss", "q_loss_shift", "--points", "2", "--prompt",
                  "Why does a stable log-softmax subtract the row's max first?"),
                 ("new-question", "06_loss", "q_logits_scale", "--points", "2", "--prompt",
                  "What goes wrong in float32 when logits reach 100?")):
        done = instructor(kit, "instructor", *argv)
        assert done.returncode == 0, done.stderr
        assert "next: write what the scaffold marks" in done.stdout
    homes = authoring.homes_of("06_loss", kit)
    _fill(homes.solutions, '    raise NotImplementedError("write the reference solution of loss_log_softmax here")', REFERENCE)
    _fill(homes.declarations, '    raise NotImplementedError("write how the grader computes the expected value of '
                              'loss_log_softmax")', EXPECTED)
    _fill(homes.declarations, *CASES)
    _fill(homes.solutions, "The model answer to q_loss_shift: write it here.",
          "exp of a large logit overflows to inf; shifting by the max changes nothing mathematically.")
    _fill(homes.solutions, "The model answer to q_logits_scale: write it here.", "exp(100) is about 2.7e43: inf.")
    for argv in (("sync",), ("release",), ("catalogue",)):
        done = instructor(kit, "instructor", *argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
    changed = {p for p in kit.rglob("*") if p.is_file() and "__pycache__" not in p.parts
               and before.get(p) != p.read_bytes()}
    return kit, changed


def test_adding_a_notebook_edits_only_its_own_files_and_what_the_commands_generate(scaffolded):
    kit, changed = scaffolded
    own = {kit / "checker/exercises/loss.py", kit / "solutions/loss.py", kit / "source/foundations/06_loss.ipynb"}
    generated = {kit / "release/foundations/06_loss.ipynb", kit / "docs/EXERCISES.md"}
    assert {p for p in changed if p.suffix != ".db"} <= own | generated | \
        {p for p in changed if p.parent == kit / "release/foundations"}, sorted(map(str, changed))
    assert own <= changed


def test_the_catalogue_and_sync_are_in_step_with_one_more_notebook(scaffolded):
    kit, _ = scaffolded
    assert instructor(kit, "instructor", "catalogue", "--check").returncode == 0
    assert instructor(kit, "instructor", "sync", "--check").returncode == 0
    text = (kit / "docs/EXERCISES.md").read_text()
    total = NOTEBOOK_POINTS * (len(NOTEBOOKS) + 1)
    assert "## 06_loss.ipynb" in text and "### `loss_log_softmax` (21 points)" in text and f"**{total:g}**" in text


def test_the_checker_passes_the_reference_and_fails_a_wrong_answer(scaffolded, tmp_path):
    kit, _ = scaffolded
    right, wrong = tmp_path / "right.py", tmp_path / "wrong.py"
    right.write_text(RIGHT)
    wrong.write_text(WRONG)
    passed = instructor(kit, "checker", str(right), "--notebook", "06_loss")
    assert passed.returncode == 0, passed.stdout
    failed = instructor(kit, "checker", str(wrong), "--notebook", "06_loss")
    assert failed.returncode == 1 and "large logits" in failed.stdout, failed.stdout


def test_prove_proves_the_new_notebook(scaffolded):
    kit, _ = scaffolded
    proved = instructor(kit, "instructor", "prove", "06_loss")
    assert proved.returncode == 0, proved.stdout
    assert "06_loss: proved" in proved.stdout and "mutants of the reference killed" in proved.stdout


def test_prove_fails_when_the_reference_is_wrong(kit, tmp_path):
    """The other way: a reference that is not right makes prove fail at the step that says so."""
    other = tmp_path / "other"
    shutil.copytree(kit, other, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    homes = authoring.homes_of("06_loss", other)
    _fill(homes.solutions, REFERENCE, "    return x - x.exp().sum(dim=-1, keepdim=True).log()")
    proved = instructor(other, "instructor", "prove", "06_loss", "--no-mutants")
    assert proved.returncode == 1 and "FAIL  reference passes" in proved.stdout, proved.stdout


def test_a_student_of_the_new_notebook_is_autograded(scaffolded):
    kit, _ = scaffolded
    folder = kit / "submitted" / "s01" / "foundations"
    folder.mkdir(parents=True)
    fill = ("import nbformat\nfrom instructor.grading.sample_class import Student, fill\n"
            "nb = nbformat.read('release/foundations/06_loss.ipynb', as_version=4)\n"
            "nbformat.write(fill(nb, '06_loss', Student('s01', 'complete')), "
            "'submitted/s01/foundations/06_loss.ipynb')\n")
    done = subprocess.run([sys.executable, "-c", fill], cwd=kit, env={**os.environ, "PYTHONPATH": str(kit)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    graded = instructor(kit, "instructor", "autograde", "--student", "s01")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    row = next(csv.DictReader((kit / "grades.csv").open()))
    assert row["06_loss"] == "21" and "missing: 01_matmul.ipynb" in row["flags"], row


def test_the_registry_s_own_tests_pass_with_one_more_notebook(scaffolded):
    kit, _ = scaffolded
    ran = instructor(kit, "pytest", "-q", "-p", "no:cacheprovider", "tests/test_units.py", "tests/test_catalogue.py",
                     "-k", "not committed_catalogue")
    assert ran.returncode == 0, ran.stdout[-3000:]


@pytest.mark.parametrize("argv, message", [
    (("new-notebook", "5_loss", "x"), "is not a notebook name"),
    (("new-notebook", "01_matmul", "x"), "already exists"),
    (("new-exercise", "09_none", "f"), "no notebook 09_none"),
    (("new-exercise", "01_matmul", "outer"), "already has outer"),
    (("new-exercise", "02_forward", "outer"), "already an entry of 01_matmul"),
    (("new-exercise", "01_matmul", "not-a-name"), "is not a Python name"),
])
def test_scaffolding_refuses_with_a_reason(kit, argv, message):
    done = instructor(kit, "instructor", *argv)
    assert done.returncode == 2 and message in done.stderr, done.stderr
