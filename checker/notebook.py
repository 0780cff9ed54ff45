"""``check("matmul_broadcast")`` and ``check_all()`` inside a student's notebook.

The code checked is what this kernel has run (IPython's input history, the current cell
left out), so a student need not save first. It is graded exactly as the CLI grades a
file: in a separate process with time and memory limits, so a check never hangs or
kills the kernel. Inside the checker's own sandbox these functions do nothing.
"""
from __future__ import annotations

import atexit
import os
import re
import time
from pathlib import Path

from checker import render
from checker.errors import CheckerError, KernelNotebookUnknown
from checker.grading import GradingSession, Options, select
from checker.registry import NOTEBOOKS, entries, locate
from checker.results import NotebookResult
from checker.submission import Cell, Submission, _transform, read_submission

IN_NOTEBOOK_SECONDS = 120.0
SANDBOX_ENV = "CHECKER_IN_SANDBOX"
VERDICTS_OUTSIDE_ENV = "FOUNDATIONS_VERDICTS_OUTSIDE_KERNEL"  # set by the course's autograde configuration
GRADED_OUTSIDE = "{name}: graded by the checker outside this kernel"
CHECK_CALL = re.compile(r"^\s*(#|from checker[\w.]* import|import checker|(check|check_all|grade_cell)\()")


class Report:
    """A result that shows as HTML in Jupyter and as text elsewhere."""

    def __init__(self, result: NotebookResult, single: bool):
        self.result = result
        self.single = single

    def _repr_html_(self) -> str:
        if self.single:
            return "".join(render.exercise_html(e) for e in self.result.exercises)
        return render.notebook_html(self.result)

    def __repr__(self) -> str:
        return render.text(self.result, verbose=self.single)

    @property
    def passed(self) -> bool:
        return self.result.all_passed


def _history() -> list[str] | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or "In" not in shell.user_ns:
        return None
    cells = list(shell.user_ns["In"])[1:-1]  # [0] is empty; [-1] is the cell calling check()
    seen, unique = set(), []
    for source in reversed(cells):  # a cell run several times counts once, at its last run
        if source and source not in seen and not all(CHECK_CALL.match(l) or not l.strip() for l in source.splitlines()):
            seen.add(source)
            unique.append(source)
    return list(reversed(unique))


def _submission(notebook: str, path: str | None) -> Submission:
    if path:
        return read_submission(path, notebook)
    history = _history()
    if history is None:
        return read_submission(f"{notebook}.ipynb", notebook)
    cells = [Cell(i, _transform(src), src) for i, src in enumerate(history)]
    return Submission(Path.cwd() / f"{notebook}.ipynb", notebook, cells)


_SESSIONS: dict[tuple, GradingSession] = {}


def _session(submission: Submission) -> GradingSession:
    """One loaded sandbox per version of the code: checking again without changes reuses it."""
    key = (submission.notebook, str(submission.path))
    session = _SESSIONS.get(key)
    if session is None or not session.extend(submission):
        for old in _SESSIONS.values():
            old.close()
        _SESSIONS.clear()
        session = _SESSIONS[key] = GradingSession(submission, Options(overall_seconds=IN_NOTEBOOK_SECONDS))
    session.started = time.monotonic()  # the overall limit counts per check, not per kernel
    return session


@atexit.register
def _close_sessions() -> None:
    for session in _SESSIONS.values():
        session.close()


def _run(names: list[str] | None, notebook: str, path: str | None) -> NotebookResult:
    submission = _submission(notebook, path)
    chosen = select(notebook, names)
    return _session(submission).notebook_result(chosen)


def _graded_elsewhere(what: str) -> bool:
    """Inside the checker's sandbox, or in a kernel nbgrader runs for autograde: do nothing."""
    if os.environ.get(SANDBOX_ENV):
        return True
    if os.environ.get(VERDICTS_OUTSIDE_ENV):
        print(GRADED_OUTSIDE.format(name=what))
        return True
    return False


def check(name: str, notebook: str | None = None, path: str | None = None):
    """Check one exercise of this notebook; shows passed/failed, the feedback and the timing."""
    if _graded_elsewhere(name):
        return None
    try:
        return Report(_run([name], _resolve(name, notebook, path), path), single=True)
    except CheckerError as exc:
        print(f"check: {exc}")
        return None


def check_all(notebook: str | None = None, path: str | None = None):
    """A progress table of every exercise in this notebook."""
    if _graded_elsewhere("check_all"):
        return None
    try:
        return Report(_run(None, _resolve(None, notebook, path), path), single=False)
    except CheckerError as exc:
        print(f"check_all: {exc}")
        return None


class CheckFailed(AssertionError):
    """Raised by a graded test cell whose exercise did not pass (nbgrader then gives it 0 points)."""


def grade_cell(name: str, notebook: str):
    """What a graded test cell calls: shows the verdict, and raises unless the exercise passed."""
    if _graded_elsewhere(name):
        return None
    report = check(name, notebook)
    if report is None:
        raise CheckFailed(f"{name}: the checker could not run")
    try:
        from IPython.display import display
        display(report)
    except ImportError:  # pragma: no cover - outside IPython
        print(repr(report))
    exercise = report.result.exercises[0]
    if exercise.status != "passed":
        detail = exercise.feedback[0] if exercise.feedback else exercise.status
        raise CheckFailed(f"{name} {exercise.status.replace('_', ' ')}: {detail}")
    return None


def _resolve(name: str | None, notebook: str | None, path: str | None = None) -> str:
    """Which notebook: the argument, the file checked, the Jupyter session, or the only one with that name."""
    if notebook:
        return notebook
    for candidate in (path, os.environ.get("JPY_SESSION_NAME")):
        if candidate and Path(candidate).stem in NOTEBOOKS:
            return Path(candidate).stem
    if name is not None:
        homes = [nb for nb in NOTEBOOKS if any(e.name == name for e in entries(nb))]
        if not homes:
            locate(name)  # raises UnknownExercise with the known names
        if len(homes) == 1:
            return homes[0]
    else:
        homes = list(NOTEBOOKS)
    here = [nb for nb in homes if Path(f"{nb}.ipynb").exists()]
    if len(here) == 1:
        return here[0]
    raise KernelNotebookUnknown(known=", ".join(homes))
