"""The registry: every catalogue entry declared once.

The CLI, the pytest plugin, the in-notebook ``check()``, the nbgrader test cells and the
docs all read this. An exercise is graded by its checks; a question is graded by hand.
"""
from __future__ import annotations

import dataclasses
import importlib

from checker.checks.base import Check
from checker.errors import UnknownExercise

NOTEBOOKS = ("01_matmul", "02_forward", "03_backprop", "04_modules")
ASSIGNMENT = "foundations"
TOTAL_POINTS = 100.0
_MODULES = {
    "01_matmul": "checker.exercises.matmul",
    "02_forward": "checker.exercises.forward",
    "03_backprop": "checker.exercises.backprop",
    "04_modules": "checker.exercises.modules",
}


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
