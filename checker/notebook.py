"""``check("matmul_broadcast")`` and ``check_all()`` inside a student's notebook.

The code checked is what this kernel has run (``checker.kernel_history``: the student's cells,
not the demonstrations, in the order of their last run), so a student need not save first. It
is graded exactly as the CLI grades a file: in a separate process with time and memory
limits, so a check never hangs or kills the kernel; a step that takes long says what it waits
for. Inside the checker's own sandbox these functions do nothing. A graded test cell
(``grade_cell``) shows its verdict and lets the notebook run on; it raises only under nbgrader.
"""
from __future__ import annotations

import atexit
import os
import textwrap
import threading
import time
from pathlib import Path

from checker import kernel_history, render
from checker import messages as msg
from checker.errors import CheckerError, KernelNotebookUnknown
from checker.grading import GradingSession, Options, select
from checker.registry import NOTEBOOKS, entries, locate
from checker.results import PASSED, NotebookResult
from checker.submission import Cell, Submission, _transform, read_submission

IN_NOTEBOOK_SECONDS = 120.0
SANDBOX_ENV = "CHECKER_IN_SANDBOX"
VERDICTS_OUTSIDE_ENV = "FOUNDATIONS_VERDICTS_OUTSIDE_KERNEL"  # set by the course's autograde configuration
GRADED_OUTSIDE = "{name}: graded by the checker outside this kernel"
NBGRADER_ENV = "NBGRADER_EXECUTION"  # set by nbgrader while it validates or autogrades
SLOW_AFTER_SECONDS = 4.0
DETAIL_WIDTH, DETAIL_LINES = 80, 3


class Report:
    """A result that shows as HTML in Jupyter and as text elsewhere."""

    def __init__(self, result: NotebookResult, single: bool):
        self.result = result
        self.single = single

    def _repr_html_(self) -> str:
        if self.single:
            return "".join(render.exercise_html(e) for e in self.result.exercises) + render.notes_html(self.result.notes)
        return render.notebook_html(self.result)

    def __repr__(self) -> str:
        return render.text(self.result, verbose=self.single)

    @property
    def passed(self) -> bool:
        return self.result.all_passed


def _saved_notebook(notebook: str) -> Path | None:
    """The notebook file this kernel belongs to (Jupyter says which), else one of that name here."""
    session = os.environ.get("JPY_SESSION_NAME")
    if session and Path(session).stem == notebook and Path(session).is_file():
        return Path(session)
    here = Path.cwd() / f"{notebook}.ipynb"
    return here if here.is_file() else None


def _submission(notebook: str, path: str | None) -> tuple[Submission, bool]:
    """What to grade, and whether it is the code this kernel ran (rather than a file)."""
    if path:
        return read_submission(path, notebook), False
    cells = kernel_history.from_kernel(_saved_notebook(notebook))
    if cells is None:
        return read_submission(f"{notebook}.ipynb", notebook), False
    notes = [kernel_history.TRIMMED_NOTE.format(count=c.count, first_line=_first_line(c.interrupted))
             for c in cells if c.trimmed]
    # each cell is numbered as the kernel numbered its run: "cell 7" is the cell whose prompt says [7]
    return Submission(Path.cwd() / f"{notebook}.ipynb", notebook,
                      [Cell(c.count, _transform(c.source), c.source, c.count) for c in cells if c.source.strip()],
                      notes), True


def _first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "")[:60]


class _PassingLine:
    """One line of output that can be taken back: in a notebook, a display that is emptied when the verdict
    comes (the "still waiting" line does not stay above it); elsewhere, a printed line."""

    def __init__(self):
        self._handle = None

    def __call__(self, text: str) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - outside IPython
            get_ipython = None
        if get_ipython is None or get_ipython() is None:
            print(text)
            return
        data = {"text/plain": text}
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)

    def clear(self) -> None:
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
            self._handle = None


class SlowNotice:
    """Says what a check is waiting for when one step (a cell, an exercise) takes long, and takes it back when
    the check is done."""

    def __init__(self, limit: float, after: float = SLOW_AFTER_SECONDS, write=None):
        self._line = _PassingLine() if write is None else None
        self.limit, self.after, self.write = limit, after, write or self._line
        self._activity: str | None = None
        self._since = time.monotonic()
        self._told = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def __call__(self, activity: str) -> None:
        with self._lock:
            self._activity, self._since, self._told = activity, time.monotonic(), False

    def _watch(self) -> None:
        while not self._done.wait(0.25):
            with self._lock:
                waited = time.monotonic() - self._since
                if self._activity and not self._told and waited >= self.after:
                    self._told = True
                    self.write(msg.STILL_WAITING.format(activity=self._activity, seconds=waited, limit=self.limit))

    def close(self) -> None:
        self._done.set()
        self._thread.join()
        if self._line is not None:
            self._line.clear()


_SESSIONS: dict[tuple, GradingSession] = {}


def _session(submission: Submission, in_kernel: bool, notice: SlowNotice) -> GradingSession:
    """One loaded sandbox per version of the code: checking again without changes reuses it."""
    key = (submission.notebook, str(submission.path), in_kernel)
    session = _SESSIONS.get(key)
    if session is not None:
        session.progress = notice
    if session is None or not session.extend(submission):
        for old in _SESSIONS.values():
            old.close()
        _SESSIONS.clear()
        options = Options(overall_seconds=IN_NOTEBOOK_SECONDS,
                          missing=msg.NOT_RUN_IN_KERNEL if in_kernel else msg.NOT_ATTEMPTED_MISSING)
        session = _SESSIONS[key] = GradingSession(submission, options, progress=notice)
    session.started = time.monotonic()  # the overall limit counts per check, not per kernel
    return session


@atexit.register
def _close_sessions() -> None:
    for session in _SESSIONS.values():
        session.close()


def _run(names: list[str] | None, notebook: str, path: str | None) -> NotebookResult:
    submission, in_kernel = _submission(notebook, path)
    chosen = select(notebook, names)
    notice = SlowNotice(Options().limits.cell_seconds)
    try:
        return _session(submission, in_kernel, notice).notebook_result(chosen)
    finally:
        notice.close()


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
    """Raised by a graded test cell, under nbgrader only, when its exercise did not pass."""

    def __init__(self, headline: str, detail: str = ""):
        super().__init__(f"{headline}: {detail}" if detail else headline)
        self.headline, self.detail = headline, detail

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback of the checker's internals; nbgrader
        # validate cuts lines at about 90 characters, so the detail is wrapped
        return [self.headline] + textwrap.wrap(self.detail, DETAIL_WIDTH, max_lines=DETAIL_LINES,
                                               initial_indent="  ", subsequent_indent="  ", placeholder=" ...")


def grade_cell(name: str, notebook: str):
    """What a graded test cell calls: shows the verdict and lets the notebook go on.

    Under ``nbgrader validate`` (and a plain nbgrader autograde), where a failing test cell is
    how nbgrader learns that an exercise is unfinished, it raises ``CheckFailed`` with one line.
    """
    if _graded_elsewhere(name):
        return None
    report = check(name, notebook)
    if report is not None:
        try:
            from IPython.display import display
            display(report)
        except ImportError:  # pragma: no cover - outside IPython
            print(repr(report))
    if not os.environ.get(NBGRADER_ENV):
        return None
    if report is None:
        raise CheckFailed(msg.CHECKER_DID_NOT_RUN.format(name=name))
    exercise = report.result.exercises[0]
    if exercise.status != PASSED:
        headline = msg.TEST_CELL_FAILED.format(name=name, status=msg.STATUS_TEXT[exercise.status],
                                               points=f"{exercise.score:g}/{exercise.max_score:g}")
        raise CheckFailed(headline, exercise.feedback[0] if exercise.feedback else "")
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
