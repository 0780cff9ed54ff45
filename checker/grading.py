"""Grading one submission: load it in the sandbox, run each exercise's checks, decide here."""
from __future__ import annotations

import dataclasses
import functools
import re
import time
from pathlib import Path
from typing import Callable, Iterable

from checker import messages as msg
from checker.checks.base import CONSTRAINT, CodeNotRead, Context, ExerciseStopped, NotAttempted
from checker.checks.operations import human_bytes, judged_on_every_call
from checker.errors import ChildDied, ProbeTimeout, ProtocolBroken, UnknownExercise
from checker.exercises.cases import VISIBLE_SEED
from checker.registry import Exercise, Question, entries
from checker.results import ERROR, FAILED, MANUAL, NOT_ATTEMPTED, PASSED, ExerciseResult, NotebookResult
from checker.sandbox.runner import CellReport, Limits, Sandbox
from checker.source_evidence import Program, tampering
from checker.submission import Submission, read_submission


_CELL_NUMBER = re.compile(r"\bcell (\d+)\b")  # how the checker's messages name a cell, before located()
OVERALL_SECONDS = 240.0
EXERCISE_SECONDS_CAP = 60.0
CALIBRATION_REFERENCE_SECONDS = 0.004  # the calibration loop on the machine the limits were set on


@dataclasses.dataclass(frozen=True)
class Options:
    seed: int = VISIBLE_SEED
    speed: bool = True  # hidden checks re-run the values on other inputs; timing them again adds nothing
    limits: Limits = Limits()
    overall_seconds: float = OVERALL_SECONDS
    missing: str = msg.NOT_ATTEMPTED_MISSING  # in a kernel: msg.NOT_RUN_IN_KERNEL


@functools.lru_cache(maxsize=1)
def machine_factor() -> float:
    """How much slower than the reference machine this one runs small torch ops (at least 1)."""
    import torch

    x = torch.zeros(())
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(500):
            x = x + 1.0
        best = min(best, time.perf_counter() - start)
    return max(1.0, best / CALIBRATION_REFERENCE_SECONDS)


def exercise_seconds(exercise: Exercise) -> float:
    return min(EXERCISE_SECONDS_CAP, exercise.seconds * machine_factor())


def select(notebook: str, only: Iterable[str] | None) -> list[Exercise | Question]:
    chosen = entries(notebook)
    if not only:
        return chosen
    known = {e.name for e in chosen}
    for name in only:
        if name not in known:
            raise UnknownExercise(name=name, notebook=notebook, known=", ".join(e.name for e in chosen))
    wanted = set(only)
    return [e for e in chosen if e.name in wanted]


def _lines_in(cell, error: dict) -> list[int]:
    """The lines of ``cell`` on the error's traceback, outermost first."""
    return [line for index, line in error.get("frames") or [] if index == cell.index]


def _raised_after_def(cell, error: dict, name: str) -> bool:
    """Whether the cell's own statement that raised is at or after the definition of ``name`` (so the def ran)."""
    lines, starts = _lines_in(cell, error), [n.lineno for n in cell.definitions(name)]
    return bool(lines and starts and lines[0] >= min(starts))


def _own_stub(cell, error: dict, name: str) -> bool:
    """Whether a NotImplementedError was raised inside the definition of ``name`` itself (its stub), not by a
    stub of another exercise that a demonstration line after the def calls."""
    if not error.get("not_implemented"):
        return False
    frames = error.get("frames")
    if not isinstance(frames, list) or not frames:
        return True
    index, line = frames[-1]
    return index == cell.index and any(n.lineno <= line <= (n.end_lineno or n.lineno) for n in cell.definitions(name))


def _error_text(error: dict) -> str:
    """``NameError: name 'm1' is not defined``; a bare ``raise NotImplementedError`` as its type alone."""
    return f"{error['type']}: {error['message']}" if error.get("message") else str(error["type"])


def _cell_problem(exercise: Exercise, submission: Submission, reports: dict[int, CellReport],
                  defined: Callable[[str], bool] = lambda name: False) -> ExerciseResult | None:
    """An exercise whose defining cell failed: not attempted (a stub) or an error. A cell that raised after its
    definition ran (``defined(name)``: the name is in the student's namespace) is no problem here: the
    definition is judged, and the raise is a note of the notebook (see GradingSession.notes), a NotImplementedError
    from another exercise's stub included."""
    cell = submission.cell_defining(exercise.name)
    report = reports.get(cell.index) if cell else None
    if report is None or report.ok:
        return None
    error = report.error
    if error and not _own_stub(cell, error, exercise.name) and _raised_after_def(cell, error, exercise.name) \
            and defined(exercise.name):
        return None
    if report.stopped:
        text = msg.DEFINING_CELL_STOPPED.format(name=exercise.name, reason=report.stopped)
        return ExerciseResult(exercise.name, ERROR, 0.0, exercise.points, [text])
    if _own_stub(cell, error, exercise.name):
        return ExerciseResult(exercise.name, NOT_ATTEMPTED, 0.0, exercise.points,
                              [msg.NOT_ATTEMPTED_STUB.format(name=exercise.name)])
    if error.get("not_implemented"):  # the cell called another exercise's stub before its def could run
        stub = error["not_implemented"] if isinstance(error["not_implemented"], str) else "an exercise"
        return ExerciseResult(exercise.name, NOT_ATTEMPTED, 0.0, exercise.points,
                              [msg.NOT_ATTEMPTED_CALLED_STUB.format(name=exercise.name, stub=stub)])
    text = msg.DEFINING_CELL_FAILED.format(name=exercise.name, where=error.get("where") or f"cell {cell.index}",
                                           error=_error_text(error))
    return ExerciseResult(exercise.name, ERROR, 0.0, exercise.points, [text])


def evaluate(exercise: Exercise, sandbox: Sandbox, options: Options, program: Program | None = None) -> ExerciseResult:
    """Run every check of one exercise and decide its status and score."""
    started = time.monotonic()
    ctx = Context(exercise, sandbox, exercise_seconds(exercise), options.seed,
                  human_bytes(options.limits.memory_bytes), options.missing, program)
    return _run_checks(exercise, ctx, options, started)


_RAISED = re.compile(re.escape(msg.RAISED_ON_VALID_INPUT.split("{input}")[0]) + r".*?: raised (\w+): .*?(\(.*line \d+.*\))?$")


def _said_once(lines: list[str]) -> list[str]:
    """The exercise's feedback with each line, and an error raised from the same line (of the same type), said
    once: every check that calls the function meets it again, on inputs of its own."""
    seen: dict[tuple, int] = {}
    kept = []
    for line in lines:
        if line in kept:  # two checks that read the same source say the same thing
            continue
        found = _RAISED.match(line)
        if found and found[2]:
            key = (found[1], found[2])
            if key in seen:
                seen[key] += 1
                continue
            seen[key] = 0
        kept.append(line)
    again = sum(seen.values())
    return kept + ([msg.SAME_ERROR_AGAIN.format(count=again)] if again else [])


def _run_checks(exercise: Exercise, ctx: Context, options: Options, started: float) -> ExerciseResult:
    outcomes = []
    try:
        for check in exercise.checks:
            if check.name == "speed" and not options.speed:
                continue
            outcomes.append(check.run(ctx))
        outcomes = judged_on_every_call(exercise.checks, ctx, outcomes)
    except NotAttempted as exc:
        return ExerciseResult(exercise.name, NOT_ATTEMPTED, 0.0, exercise.points, [msg.of_error(exc)])
    except CodeNotRead as exc:
        return ExerciseResult(exercise.name, FAILED, 0.0, exercise.points, [msg.of_error(exc)], outcomes)
    except (ExerciseStopped, ProbeTimeout, ChildDied, ProtocolBroken) as exc:
        if getattr(exc, "memory_full", False):  # its time ran out with the jail's memory full: a memory bomb
            line = msg.OUT_OF_MEMORY.format(limit=human_bytes(options.limits.memory_bytes), what=exc.what)
            return ExerciseResult(exercise.name, ERROR, 0.0, exercise.points, [line], outcomes)
        return ExerciseResult(exercise.name, ERROR, 0.0, exercise.points, [msg.of_error(exc)], outcomes)
    except Exception as exc:  # noqa: BLE001 - an answer built to break a comparison costs its exercise, not the run
        text = msg.CHECK_COULD_NOT_JUDGE.format(name=exercise.name, type=type(exc).__name__, message=str(exc)[:200])
        return ExerciseResult(exercise.name, ERROR, 0.0, exercise.points, [text], outcomes)
    elapsed = time.monotonic() - started
    failed = [o for o in outcomes if not o.passed]
    feedback = _said_once([line for o in (failed or outcomes) for line in o.feedback])
    if not failed:
        return ExerciseResult(exercise.name, PASSED, exercise.points, exercise.points, feedback, outcomes, elapsed)
    score = 0.0
    if all(o.category == CONSTRAINT for o in failed):
        score = exercise.points / 2
        feedback.append(msg.PARTIAL_CREDIT.format(check=", ".join(o.check for o in failed)))
    return ExerciseResult(exercise.name, FAILED, score, exercise.points, feedback, outcomes, elapsed)


class GradingSession:
    """A loaded submission whose exercises are judged on demand (each at most once)."""

    def __init__(self, submission: Submission, options: Options = Options(),
                 progress: Callable[[str], None] | None = None):
        self.submission = submission
        self.options = options
        self.progress = progress
        self.started = time.monotonic()
        self.notes: list[str] = []
        self._results: dict[tuple[str, int | None], ExerciseResult] = {}
        cells = [(c.index, c.source) for c in submission.cells]
        self.sandbox = Sandbox(cells, options.limits)
        self.reports: dict[int, CellReport] | None = None
        self._program: Program | None = None
        self._names: set[str] | None = None  # the student's namespace, asked once

    @property
    def program(self) -> Program:
        """The submitted source, parsed in this process: evidence student code cannot rewrite."""
        if self._program is None:
            self._program = Program((c.index, c.source) for c in self.submission.cells)
        return self._program

    def _places(self) -> list[tuple[str, str]]:
        """(what, where) of each place the submission reaches into the checker's process: read from its source
        here, then what the child's tripwire refused while it ran."""
        return [(f.what, f.where()) for f in tampering(self.program)] + \
            [(str(r.get("what"))[:80], self._quoted(str(r.get("where")))) for r in self.sandbox.tampering]

    def tampering(self) -> list[str]:
        """Where the submission reaches into the checker's process (empty for an honest notebook)."""
        return [msg.TAMPERING_NOTE.format(what=what, where=where) for what, where in self._places()]

    def _tampered(self, result: ExerciseResult) -> ExerciseResult:
        """The verdict on an exercise of a notebook that tampers: none, and the first place named."""
        places = self._places()
        where = places[0][1] + (f" and {len(places) - 1} more places" if len(places) > 1 else "")
        return ExerciseResult(result.name, FAILED, 0.0, result.max_score, [self.located(msg.TAMPERED.format(where=where))])

    def _quoted(self, where: str) -> str:
        """"cell 3, line 6" with that line of the submission quoted (the child's word is only the place)."""
        found = re.fullmatch(r"cell (\d+), line (\d+)", where)
        cell = next((c for c in self.submission.cells if found and c.index == int(found[1])), None)
        lines = cell.source.splitlines() if cell else []
        if not found or not 0 < int(found[2]) <= len(lines):
            return where[:80]
        return f"{where}: `{lines[int(found[2]) - 1].strip()[:80]}`"

    def located(self, text):
        """``text`` with each "cell N" (the checker's numbering) as the student finds it: In [50] and its first
        line in a notebook, the cell's first line where no prompt was saved."""
        cells = {c.index: c for c in self.submission.cells}

        def label(match: re.Match) -> str:
            cell = cells.get(int(match[1]))
            return cell.label() if cell is not None else match[0]

        return msg.retold(text, _CELL_NUMBER.sub(label, text))

    def final(self, results: list[ExerciseResult]) -> list[ExerciseResult]:
        """The verdicts that stand: none of a notebook whose code was caught reaching into the checker's
        process while it ran (what its source shows is judged before any check runs)."""
        results = [dataclasses.replace(r, feedback=[self.located(line) for line in r.feedback]) for r in results]
        if not self.sandbox.tampering:
            return results
        return [r if r.status == MANUAL else self._tampered(r) for r in results]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.sandbox.close()

    def load(self) -> None:
        if self.reports is not None:
            return
        if self.progress:
            self.progress(f"loading {self.submission.path.name}")
        self.reports = {r.index: r for r in self.sandbox.load(self._running_cell if self.progress else None)}
        self.notes += [f"cell {r.index}: {r.stopped}" for r in self.reports.values() if r.stopped]
        self.notes += [msg.CELL_DEFINITIONS_ONLY.format(reason=r.trimmed.rstrip("?"))
                       for r in self.reports.values() if r.trimmed]

    def _running_cell(self, index: int, submission: Submission | None = None) -> None:
        cell = next((c for c in (submission or self.submission).cells if c.index == index), None)
        first = next((line.strip() for line in (cell.original if cell else "").splitlines() if line.strip()), "")
        self.progress(msg.RUNNING_CELL.format(index=index, first_line=first[:60]))

    def extend(self, submission: Submission) -> bool:
        """Follow a kernel that has run more cells since: run only the new ones in the same sandbox.
        False when the earlier cells changed (then a new session is needed)."""
        old = [c.source for c in self.submission.cells]
        new = [c.source for c in submission.cells]
        if new[: len(old)] != old:
            return False
        if len(new) > len(old):
            self.load()
            added = submission.cells[len(old):]
            self.sandbox.cells.extend((c.index, c.source) for c in added)
            for cell in added:
                if self.progress:
                    self._running_cell(cell.index, submission)
                self.reports[cell.index] = report = self.sandbox.run_cell(cell.index, cell.source)
                if report.trimmed:
                    self.notes.append(msg.CELL_DEFINITIONS_ONLY.format(reason=report.trimmed.rstrip("?")))
            self.submission = submission
            self._program = None
            self._names = None
            self._results.clear()
        return True

    def result(self, entry: Exercise | Question, hidden_seed: int | None = None) -> ExerciseResult:
        """The verdict on one entry; with ``hidden_seed``, the hidden checks: the same checks on other
        inputs and shapes, without timing again."""
        key = (entry.name, hidden_seed)
        if key not in self._results:
            options = self.options if hidden_seed is None else \
                dataclasses.replace(self.options, seed=hidden_seed, speed=False)
            self._results[key] = self._judge(entry, options, hidden_seed)
        return self.final([self._results[key]])[0]

    def _her_passing_dependencies_kept(self, entry: Exercise, hidden_seed: int | None) -> Exercise:
        """``entry`` judged with her own versions of the exercises it uses where those passed their own checks (the
        notebook as it runs: her Module may keep more than the checker's does, and her layers read it), and with
        the checker's versions in place of those that did not (a mistake charged to the exercise that has it), down
        to what the exercises it uses use in turn (her passing Mse calls her failing mse_grad: the checker's is put
        in its place)."""
        if not entry.uses:
            return entry
        exercises = {e.name: e for e in entries(entry.notebook) if isinstance(e, Exercise) and e.name != entry.name}

        def passed(name: str) -> bool:
            dependency = exercises.get(name)
            return dependency is not None and self.result(dependency).status == PASSED and \
                (hidden_seed is None or self.result(dependency, hidden_seed).status == PASSED)

        closure, todo = [], list(entry.uses)  # and what those use in turn: her passing Mse calls her mse_grad
        while todo:
            name = todo.pop(0)
            if name not in closure and name != entry.name:
                closure.append(name)
                todo += list(getattr(exercises.get(name), "uses", ()))
        kept = tuple(name for name in closure if not passed(name))
        return entry if kept == entry.uses else dataclasses.replace(entry, uses=kept)

    def _judge(self, entry: Exercise | Question, options: Options, hidden_seed: int | None = None) -> ExerciseResult:
        if isinstance(entry, Question):
            return ExerciseResult(entry.name, MANUAL, 0.0, entry.points, [msg.MANUAL_QUESTION])
        if time.monotonic() - self.started > self.options.overall_seconds:
            return ExerciseResult(entry.name, ERROR, 0.0, entry.points,
                                  [msg.OVERALL_LIMIT.format(seconds=self.options.overall_seconds)])
        if tampering(self.program):  # read from the source: no check runs
            return self._tampered(ExerciseResult(entry.name, FAILED, 0.0, entry.points, []))
        self.load()
        if self.progress:
            self.progress(f"checking {entry.name}")
        problem = _cell_problem(entry, self.submission, self.reports, self._defined)
        if problem is None:
            self._note_raised_after(entry.name)
        result = problem or evaluate(self._her_passing_dependencies_kept(entry, hidden_seed), self.sandbox, options,
                                     self.program)
        if result.status != PASSED:
            self._note_defined_twice(entry.name)
        return result

    def _note_defined_twice(self, name: str) -> None:
        """An exercise that did not pass, defined in more than one cell (a scratch cell after the answer, say):
        which one was checked, the last, as her kernel running them in order would keep."""
        cells = [c for c in self.submission.cells if name in c.defines()]
        if len(cells) > 1:
            note = msg.DEFINED_IN_CELLS.format(name=name, count=len(cells), cell=f"cell {cells[-1].index}")
            if note not in self.notes:
                self.notes.append(note)

    def _defined(self, name: str) -> bool:
        """Whether the student's namespace holds ``name`` (what her kernel held is what she tested)."""
        if self._names is None:
            try:
                self._names = set(self.sandbox.names())
            except (ProbeTimeout, ChildDied, ProtocolBroken):
                self._names = set()
        return name in self._names

    def _note_raised_after(self, name: str) -> None:
        cell = self.submission.cell_defining(name)
        report = (self.reports or {}).get(cell.index) if cell else None
        if report is None or report.ok or report.error is None or _own_stub(cell, report.error, name):
            return
        error = report.error
        note = msg.DEFINED_THEN_RAISED.format(name=name, where=error.get("where") or f"cell {cell.index}",
                                              error=_error_text(error))
        if error.get("type") == "NameError":
            note += msg.DEMO_CELLS_NOT_RUN
        if note not in self.notes:
            self.notes.append(note)

    def notebook_result(self, chosen: Iterable[Exercise | Question]) -> NotebookResult:
        results = self.final([self.result(e) for e in chosen])
        return NotebookResult(self.submission.notebook, results,
                              [self.located(note) for note in self.submission.notes + self.notes],
                              time.monotonic() - self.started, self.sandbox.layers.describe(),
                              [self.located(line) for line in self.tampering()])


def grade(path: str | Path, notebook: str | None = None, only: Iterable[str] | None = None,
          options: Options = Options(), progress: Callable[[str], None] | None = None,
          submission: Submission | None = None) -> NotebookResult:
    """Check one submission. Raises SubmissionUnreadable / UnknownNotebook / UnknownExercise on bad input."""
    submission = submission or read_submission(path, notebook)
    chosen = select(submission.notebook, only)
    with GradingSession(submission, options, progress) as session:
        return session.notebook_result(chosen)
