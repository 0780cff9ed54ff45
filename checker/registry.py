"""The registry: every catalogue entry declared once.

The CLI, the pytest plugin, the in-notebook ``check()``, the nbgrader test cells and the
docs all read this. An exercise is graded by its checks; a question is graded by hand.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

from checker import course
from checker.checks.base import Check
from checker.errors import UnknownExercise

ASSIGNMENT = course.ASSIGNMENT
EXERCISES_PACKAGE = "checker.exercises"


def declared_notebooks(folder: Path) -> dict[str, Path]:
    """notebook -> the file that declares its exercises: every ``*.py`` of ``folder`` with a top-level
    ``NOTEBOOK = "NN_name"`` (read, not imported: the CLI starts without importing every notebook's checks)."""
    found = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and \
                    any(isinstance(t, ast.Name) and t.id == "NOTEBOOK" for t in node.targets):
                found[str(node.value.value)] = path
    return dict(sorted(found.items()))


_MODULES = {notebook: f"{EXERCISES_PACKAGE}.{path.stem}"
            for notebook, path in declared_notebooks(Path(__file__).parent / "exercises").items()}
NOTEBOOKS = tuple(_MODULES)  # in the order students meet them: by their number
NOTEBOOK_POINTS = 25.0  # every notebook carries the same points (exercises and written questions together)
TOTAL_POINTS = NOTEBOOK_POINTS * len(NOTEBOOKS)


def module_stem(notebook: str) -> str:
    """``03_backprop`` -> ``backprop``: the name its exercises' and its solutions' modules share."""
    return _MODULES[notebook].rsplit(".", 1)[1]


@dataclasses.dataclass(frozen=True)
class Exercise:
    name: str
    notebook: str
    points: float
    summary: str
    checks: tuple[Check, ...]
    seconds: float = 10.0  # time limit for all of its probes on a reference machine
    # the exercises it calls or subclasses: judged with the checker's versions of those in their place
    # (checker.sandbox.standins), so that its verdict rests on its own code only
    uses: tuple[str, ...] = ()

    kind = "autograded"


@dataclasses.dataclass(frozen=True)
class Question:
    name: str
    notebook: str
    points: float
    prompt: str

    kind = "manual"


Entry = Exercise | Question


def entries(notebook: str) -> list[Entry]:
    """The catalogue entries of one notebook, in catalogue order."""
    return list(importlib.import_module(_MODULES[notebook]).ENTRIES)


def all_entries() -> list[Entry]:
    return [e for nb in NOTEBOOKS for e in entries(nb)]


def find(notebook: str, name: str) -> Entry:
    for entry in entries(notebook):
        if entry.name == name:
            return entry
    raise UnknownExercise(name=name, notebook=notebook, known=", ".join(e.name for e in entries(notebook)))


def locate(name: str, notebook: str | None = None) -> Entry:
    """An entry by name; names that exist in several notebooks need ``notebook``."""
    if notebook is not None:
        return find(notebook, name)
    matches = [e for e in all_entries() if e.name == name]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(sorted({e.name for e in all_entries()}))
    if not matches:
        raise UnknownExercise(name=name, notebook="any notebook", known=known)
    raise UnknownExercise(name=name, notebook="one notebook only (it is in " +
                          ", ".join(e.notebook for e in matches) + "; say which)", known=known)
