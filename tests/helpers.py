"""Shared test helpers: submissions built from the solutions, and message matching."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from checker.messages import matches, template_regex  # noqa: F401 - re-exported for the tests
from solutions.source import STUB, stub_of, submission_cells as cells_for, write_py  # noqa: F401


def write_ipynb(path: Path, cells: list[str], metadata_per_cell: dict[int, dict] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    for i, source in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source)
        if metadata_per_cell and i in metadata_per_cell:
            cell.metadata.update(metadata_per_cell[i])
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def submission(tmp_path: Path, notebook: str, replace=None, drop=(), extra_cells=(), suffix=".py") -> Path:
    cells = cells_for(notebook, replace, drop, extra_cells)
    path = tmp_path / f"{notebook}{suffix}"
    return write_py(path, cells) if suffix == ".py" else write_ipynb(path, cells)


def load_json(text: str) -> dict:
    return json.loads(text)


def course_folder(parent: Path) -> Path:
    """A copy of the course to grade a class in: its config, source, release and solutions (a course
    folder holds them: the jailbreak's target)."""
    from instructor.authoring.notebooks import ROOT

    root = parent / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for part in ("source", "release", "solutions"):
        shutil.copytree(ROOT / part, root / part)
    return root


def class_problems(rows: dict[str, dict], roster) -> list[tuple]:
    """Students of a sample class whose grades.csv row differs from what the roster expects: the total,
    the status (flagged or graded) and the flag's kind."""
    from instructor.grading import sample_class

    problems = []
    for s in roster:
        row = rows[s.id]
        status = "flagged" if s.flag else "graded"
        flag_ok = not s.flag or row["flags"].startswith(s.flag) or f"| {s.flag}:" in row["flags"]
        if float(row["autograded_score"]) != sample_class.expected_total(s) or row["status"] != status or not flag_ok:
            problems.append((s.id, row["autograded_score"], sample_class.expected_total(s), row["status"], row["flags"]))
    return problems
