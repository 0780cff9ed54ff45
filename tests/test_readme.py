"""The guides' student and instructor paths are the commands these tests run."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from instructor.authoring.notebooks import ROOT
from instructor.grading.sample_class import Student, fill

GUIDES = {"student-path": ROOT / "docs" / "STUDENTS.md", "instructor-path": ROOT / "docs" / "INSTRUCTORS.md"}


def commands(marker: str) -> list[list[str]]:
    block = GUIDES[marker].read_text().split(f"<!-- {marker}:", 1)[1].split("```", 2)[1]
    return [shlex.split(line.split("#", 1)[0]) for line in block.strip().splitlines() if line.split("#", 1)[0].strip()]


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    if argv[0] in ("python", "pytest"):
        argv = [sys.executable, *(["-m", "pytest"] if argv[0] == "pytest" else []), *argv[1:]]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_student_path(tmp_path):
    steps = commands("student-path")
    assert [s[0] for s in steps] == ["cd", "jupyter", "python", "pytest"]
    tmp_path = tmp_path / steps[0][1]  # cd foundations: the folder the notebooks' zip unpacks to
    tmp_path.mkdir()
    shutil.copy(ROOT / "release" / "foundations" / "01_matmul.ipynb", tmp_path)
    path = tmp_path / "01_matmul.ipynb"
    untouched = run(steps[2], tmp_path)
    assert untouched.returncode == 1 and "not attempted" in untouched.stdout
    # "fill in every YOUR CODE HERE": the reference solutions stand in for the student's work
    nb = fill(nbformat.read(str(path), as_version=4), "01_matmul", Student("me", "complete"))
    nbformat.write(nb, str(path))
    checked = run(steps[2], tmp_path)
    assert checked.returncode == 0, checked.stdout
    as_tests = run(steps[3] + ["-p", "no:cacheprovider"], tmp_path)
    assert as_tests.returncode == 0 and re.search(r"\d+ passed", as_tests.stdout), as_tests.stdout


def test_instructor_path_commands_exist_and_sources_are_in_step():
    steps = commands("instructor-path")
    assert [s[:4] for s in steps] == [["python", "-m", "instructor", "sync"], ["python", "-m", "instructor", "release"],
                                      ["python", "-m", "instructor", "autograde"],
                                      ["python", "-m", "instructor", "autograde"], ["python", "-m", "instructor", "doctor"],
                                      ["python", "-m", "instructor", "catalogue"],
                                      ["python", "-m", "instructor", "student-kit"],
                                      ["python", "-m", "instructor", "similarity"],
                                      ["python", "-m", "instructor", "export"]]
    for step in steps:
        assert run(step[:4] + ["--help"], ROOT).returncode == 0
    assert run(["python", "-m", "instructor", "sync", "--check"], ROOT).returncode == 0
    assert run(["python", "-m", "instructor", "catalogue", "--check"], ROOT).returncode == 0
