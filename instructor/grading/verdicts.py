"""nbgrader preprocessors that make the checker, not the student's kernel, decide every score.

``ResilientExecute`` runs the notebook as nbgrader's Execute does, but a dead kernel or a
hung cell costs only the cells it touched instead of the whole submission.
``CheckerVerdicts``, placed before ``SaveAutoGrades``, grades the submitted cells with the
checker (a separate process with its own limits; visible and hidden checks) and replaces
the outputs of every graded test cell with the verdict, in the form nbgrader scores:
nothing for full points, a number for partial credit, an error for none. Whatever the
student's code printed or patched in its kernel is discarded.
"""
from __future__ import annotations

from checker import course

import concurrent.futures
import copy
import dataclasses
import hashlib
import hmac
import json
import math
import os
import string
import tempfile
import time
from pathlib import Path

# Imported here, in the main thread: the background grading thread must not import IPython while
# the kernel manager is being configured (a race in traitlets' config loading otherwise).
from IPython.core.inputtransformer2 import TransformerManager  # noqa: F401
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Integer

from checker import messages as msg
from checker import render
from checker.grading import GradingSession, Options, select
from checker.results import PASSED, ExerciseResult
from checker.notebook import VERDICTS_OUTSIDE_ENV
from checker.submission import read_submission
from checker.sandbox import jail
from checker.sandbox.kernel import JailedKernelManager

TEST_PREFIX = course.TEST_PREFIX
VERDICT_KEY = course.VERDICT_KEY
HIDDEN_SEED_ENV = "FOUNDATIONS_HIDDEN_SEED"
KERNEL_PROBLEM = "kernel_problem"
KERNEL_PROBLEM_LOG = "kernel problem while executing"
HIDDEN_PREFIX = msg.HIDDEN_CHECK_PREFIX
TAMPERING_NOTE_PREFIX = msg.TAMPERING_NOTE.split("{", 1)[0]  # "tampering: ", said once by the flag's kind
TAMPERING_LOG = "tampering in"  # "tampering in NOTEBOOK: where": the driver reads it into a flag
CONFINEMENT_LOG = "student code ran"  # the nbgrader log line the autograde driver reads into grades.csv


TIMEOUT_ERRORS = ("CellTimeoutError", "KeyboardInterrupt", "TimeoutError")
OUTPUT_KEPT_BYTES = 2 * 2**20  # of one cell's output, kept as it arrives from the kernel; the rest is counted
NOTEBOOK_OUTPUT_KEPT_BYTES = 8 * 2**20  # of all the notebook's cells together: many cells, each under the cap
ERROR_ALWAYS_KEPT_BYTES = 16 * 2**10  # an error this small is kept past the caps (a hung cell's interrupt is one)
OUTPUT_DROPPED = "[output cut by the grader: {bytes:,} more bytes of this cell's output were not kept]"
NOT_RUN_NOTEBOOK_TIME = ("[not run by the grader: this notebook's cells had used the {seconds} s its kernel may run "
                         "in all; your score does not depend on it: the checker runs your cells itself]")
NOTEBOOK_TIME_UP_LOG = "{notebook}: its cells ran out of the {seconds} s they may run in all; {count} cells were not run"
NOTEBOOK_OUTPUT_DROPPED = ("[output cut by the grader: the notebook's outputs reached {limit} MiB; {bytes:,} more "
                           "bytes of this cell's output were not kept]")


def message_bytes(msg: dict) -> int:
    """About how much one iopub message adds to the notebook: its text and its data."""
    content = msg.get("content", {}) or {}
    size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in (content.get("data") or {}).values())
    return size + sum(len(str(line)) for line in content.get("traceback", []) or [])


def hidden_seed_from(config_value: int | None, resources: dict | None = None) -> int | None:
    """The seed of one student's hidden checks: the course's (configured, or from the environment), drawn apart
    for each student and notebook (an HMAC keyed with it), so that what one student learns of her hidden inputs
    tells her classmates nothing of theirs, and the course's seed cannot be found from hers."""
    env = os.environ.get(HIDDEN_SEED_ENV)
    seed = int(env) if env else config_value
    where = (resources or {}).get("nbgrader", {})
    if seed is None or not where.get("student"):
        return seed
    text = f"{where.get('assignment', '')}/{where['student']}/{where.get('notebook', '')}".encode()
    return int.from_bytes(hmac.new(str(seed).encode(), text, hashlib.sha256).digest()[:4], "big") >> 1


def _as_the_student_saw_them(nb, seen: list) -> None:
    """The cells' In [n] back to the student's own: the checker's messages name a cell by it ("In [50]"), and the
    feedback and the formgrader then show the same number her screen did."""
    for cell, count in zip(nb.cells, seen):
        if cell.get("cell_type") == "code":
            cell["execution_count"] = count


class ResilientExecute(Execute):
    """Execute, except that a dead kernel or a hung cell stops execution without losing the notebook.

    It also starts the checker on the submitted cells in a background thread before the kernel
    runs, so that grading (a separate process) overlaps the kernel's execution; CheckerVerdicts
    collects the verdicts.
    """

    notebook_timeout = Integer(150, help="seconds all of a notebook's cells may run in its kernel together (each "
                               "cell has Execute.timeout too): the cells after are not run, and the grades do not "
                               "depend on them (the checker runs the cells itself, with its own limits)").tag(config=True)

    require_confinement = Bool(False, help="refuse to grade (the student is flagged not_graded) unless every "
                               f"confinement layer is active; ${jail.REQUIRE_ENV}=1 does the same").tag(config=True)

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's, except that a cell keeps at most OUTPUT_KEPT_BYTES of output as it arrives, and the notebook
        NOTEBOOK_OUTPUT_KEPT_BYTES: a kernel printing without end, or in a thousand cells, never makes this process
        hold more than that (nbgrader's LimitOutput cuts what is kept to its own limits afterwards)."""
        kept = self.__dict__.setdefault("_output_kept", {})  # cell -> [bytes kept, bytes dropped, the note]
        size = message_bytes(msg)
        record = kept.setdefault(cell_index, [0, 0, None])
        total = sum(r[0] for r in kept.values())
        kind = msg.get("msg_type")
        capped = kind in ("stream", "display_data", "execute_result", "update_display_data", "error")
        small_error = kind == "error" and size <= ERROR_ALWAYS_KEPT_BYTES
        cell_full = record[0] + size > OUTPUT_KEPT_BYTES
        if not capped or small_error or (not cell_full and total + size <= NOTEBOOK_OUTPUT_KEPT_BYTES):
            record[0] += size
            return super().output(outs, msg, display_id, cell_index)
        record[1] += size
        if record[2] is None:
            record[2] = NotebookNode(output_type="stream", name="stdout", text="")
            outs.append(record[2])
        note = OUTPUT_DROPPED if cell_full else NOTEBOOK_OUTPUT_DROPPED
        record[2]["text"] = note.format(bytes=record[1], limit=NOTEBOOK_OUTPUT_KEPT_BYTES // 2**20) + "\n"
        return None

    def preprocess_cell(self, cell, resources, index):
        """nbconvert's, within the notebook's time: a cell may run no longer than what is left of it (through the
        public ``timeout_func``), and once none is left the code cells after are not run but say so."""
        deadline = self.__dict__.get("_deadline")
        if deadline is None or cell.get("cell_type") != "code":
            return super().preprocess_cell(cell, resources, index)
        if time.monotonic() >= deadline:
            cell["outputs"] = [NotebookNode(output_type="stream", name="stdout",
                                            text=NOT_RUN_NOTEBOOK_TIME.format(seconds=self.notebook_timeout) + "\n")]
            self.__dict__["_not_run"] = self.__dict__.get("_not_run", 0) + 1
            return cell, resources
        self.timeout_func = self._time_left
        return super().preprocess_cell(cell, resources, index)

    def _time_left(self, cell) -> int:
        """A cell's time limit: Execute.timeout, or what is left of the notebook's time if that is less."""
        left = max(1, math.ceil(self.__dict__["_deadline"] - time.monotonic()))
        return min(self.timeout, left) if self.timeout and self.timeout > 0 else left

    def create_kernel_manager(self):
        # every kernel runs in a jail of its own (set here: preprocess() re-initialises the traits)
        self.kernel_manager_class = JailedKernelManager
        return super().create_kernel_manager()

    def preprocess(self, nb, resources, km=None):
        self.__dict__["_output_kept"] = {}  # output() counts per cell of this notebook
        self.__dict__["_deadline"] = time.monotonic() + self.notebook_timeout if self.notebook_timeout > 0 else None
        self.__dict__["_not_run"] = 0
        if self.require_confinement:
            os.environ[jail.REQUIRE_ENV] = "1"  # the checker's children refuse too
        layers = jail.available()  # probed here, in the main thread, before any grading thread starts
        if jail.require_full() and not layers.full:
            raise jail.NotConfined(layers)
        notebook = resources.get("nbgrader", {}).get("notebook")
        if notebook:
            seed = hidden_seed_from(CheckerVerdicts(config=self.config).hidden_seed, resources)
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            resources.setdefault(course.METADATA_KEY, {})["verdicts_future"] = pool.submit(
                judge_notebook, copy.deepcopy(nb), notebook, seed)
            pool.shutdown(wait=False)
        # The kernel inherits this: its test cells leave grading to CheckerVerdicts instead of
        # running the checker a second time from inside the student's kernel.
        previous = os.environ.get(VERDICTS_OUTSIDE_ENV)
        os.environ[VERDICTS_OUTSIDE_ENV] = "1"
        seen = [cell.get("execution_count") for cell in nb.cells]  # the In [n] the student's screen showed
        try:
            nb, resources = super().preprocess(nb, resources, km=km)
            _as_the_student_saw_them(nb, seen)
            hung = [i for i, cell in enumerate(nb.cells) for o in cell.get("outputs", [])
                    if o.get("output_type") == "error" and o.get("ename") in TIMEOUT_ERRORS]
            if hung:
                self.log.warning("%s: cell %s hit its time limit (%s s a cell, %s s for the notebook) and was "
                                 "interrupted", KERNEL_PROBLEM_LOG, hung[0], self.timeout, self.notebook_timeout)
            if self.__dict__["_not_run"]:
                self.log.warning("%s: %s", KERNEL_PROBLEM_LOG, NOTEBOOK_TIME_UP_LOG.format(
                    notebook=notebook, seconds=self.notebook_timeout, count=self.__dict__["_not_run"]))
            return nb, resources
        except jail.NotConfined:
            raise
        except Exception as exc:  # noqa: BLE001 - DeadKernelError, timeouts, kernel start failures
            problem = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            resources.setdefault(course.METADATA_KEY, {})[KERNEL_PROBLEM] = problem[:300]
            self.log.warning("%s: %s (the checker still grades every cell)", KERNEL_PROBLEM_LOG, render.plain(problem))
            _as_the_student_saw_them(nb, seen)
            return nb, resources
        finally:
            if previous is None:
                os.environ.pop(VERDICTS_OUTSIDE_ENV, None)
            else:
                os.environ[VERDICTS_OUTSIDE_ENV] = previous


def combine(visible: ExerciseResult, hidden: ExerciseResult | None) -> ExerciseResult:
    """The verdict that counts: the hidden checks run only on what passed the visible ones, and can fail it."""
    if hidden is None or hidden.status == PASSED:
        return visible
    feedback = [msg.prefixed(HIDDEN_PREFIX, withheld(line)) for line in hidden.feedback]
    return ExerciseResult(visible.name, hidden.status, min(visible.score, hidden.score), visible.max_score, feedback,
                          hidden.outcomes)


def withheld(line) -> msg.Feedback:
    """A hidden check's feedback line as the student may read it: a fixed text as it is; a line with fields (what
    her code returned, raised or printed on a hidden input, which she could fill with the input itself) reduced to
    the kind of mistake and the input's label (its names, shapes and dtypes, which the grader writes)."""
    template, inner = (getattr(msg, kind or "", None) for kind in (msg.kind_of(line), msg.inner_of(line)))
    if isinstance(template, msg.Message) and (msg.kind_of(line) in FIELDS_OF_THE_GRADER or
                                              not any(field for _, field, _, _ in string.Formatter().parse(template))):
        return line
    mistake = next((t.mistake for t in (template, inner) if isinstance(t, msg.Message) and t.mistake),
                   msg.HIDDEN_CHECK_UNLABELLED)
    text, on = str(line), ""
    if any(isinstance(t, msg.Message) and t.startswith(INPUT_FIRST) for t in (template, inner)) \
            and text.startswith("on ") and ": " in text:
        on = " " + text.split(": ", 1)[0]  # the label comes first, written by the grader; her text only after it
    return msg.retold(line, msg.HIDDEN_CHECK_WITHHELD.format(mistake=mistake, on=on))


# messages whose fields the grader alone fills (a count of the lines it left out, the names of its checks), shown
FIELDS_OF_THE_GRADER = frozenset({"SAME_ERROR_AGAIN", "PARTIAL_CREDIT"})
INPUT_FIRST = "on {input}: "  # a message that names its input before anything else


@dataclasses.dataclass
class Judgement:
    verdicts: dict[str, ExerciseResult]  # exercise name -> the result that counts
    tampering: list[str]  # where the code reaches into the checker's process (its source, and the tripwire)


def judge_notebook(nb: NotebookNode, notebook: str, hidden_seed: int | None) -> Judgement:
    """Grade the notebook's cells (as submitted) with the checker."""
    with tempfile.TemporaryDirectory(prefix="foundations-") as tmp:
        path = Path(tmp) / f"{notebook}.ipynb"
        sources = json.loads(json.dumps(nb))  # a plain copy
        for cell in sources.get("cells", []):
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
        path.write_text(json.dumps(sources))
        submission = read_submission(path, notebook)
        chosen = [e for e in select(notebook, None) if e.kind == "autograded"]
        with GradingSession(submission, Options()) as session:
            visible = {e.name: session.result(e) for e in chosen}
            hidden = {e.name: session.result(e, hidden_seed=hidden_seed) for e in chosen
                      if hidden_seed is not None and visible[e.name].status == PASSED}
            combined = session.final([combine(result, hidden.get(name)) for name, result in visible.items()])
            tampering = [session.located(line) for line in session.tampering()]  # as the student finds the place
    return Judgement({r.name: r for r in combined}, tampering)


def verdict_data(result: ExerciseResult) -> dict:
    """The verdict as data, kept in the test cell's output metadata: what reports read (never the text)."""
    return {"exercise": result.name, "status": result.status, "score": result.score, "max_score": result.max_score,
            "feedback": [msg.as_data(line) for line in result.feedback]}


def verdict_outputs(result: ExerciseResult) -> list[NotebookNode]:
    html = render.exercise_html(result)
    lines = [f"{result.name}: {result.status.replace('_', ' ')} ({result.score:g}/{result.max_score:g})"]
    lines += [render.plain(line) for line in result.feedback]  # her text's ESC sequences and line breaks, shown
    shown = NotebookNode(output_type="display_data", metadata={course.METADATA_KEY: {VERDICT_KEY: verdict_data(result)}},
                         data={"text/html": html, "text/plain": "\n".join(str(line) for line in lines)})
    if result.status == PASSED:
        return [shown]
    if result.score > 0:
        score = NotebookNode(output_type="execute_result", metadata={}, execution_count=None,
                             data={"text/plain": repr(float(result.score))})
        return [shown, score]
    first = render.plain(result.feedback[0]) if result.feedback else result.status
    error = NotebookNode(output_type="error", ename=f"Exercise{result.status.title().replace('_', '')}",
                         evalue=first, traceback=[f"{result.name}: {result.status.replace('_', ' ')}: {first}"])
    return [shown, error]


class CheckerVerdicts(NbGraderPreprocessor):
    """Replace each graded test cell's outputs with the checker's out-of-kernel verdict."""

    hidden_seed = Integer(None, allow_none=True,
                          help=f"seed of the hidden checks (other inputs and shapes); ${HIDDEN_SEED_ENV} overrides"
                          ).tag(config=True)

    def preprocess(self, nb, resources):
        notebook = resources["nbgrader"]["notebook"]
        self.log.info("%s %s", CONFINEMENT_LOG, jail.available().describe())
        future = resources.get(course.METADATA_KEY, {}).pop("verdicts_future", None)
        judgement = future.result() if future is not None else \
            judge_notebook(nb, notebook, hidden_seed_from(self.hidden_seed, resources))
        verdicts = judgement.verdicts
        if judgement.tampering:
            places = [line.removeprefix(TAMPERING_NOTE_PREFIX) for line in judgement.tampering]
            self.log.warning("%s %s: %s", TAMPERING_LOG, notebook, render.plain("; ".join(places)[:250]))
        resources.setdefault(course.METADATA_KEY, {})["verdicts"] = {name: verdict_data(r) for name, r in verdicts.items()}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id", "")
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            name = grade_id[len(TEST_PREFIX):] if grade_id.startswith(TEST_PREFIX) else None
            if name in verdicts:
                cell.outputs = verdict_outputs(verdicts[name])
            else:
                cell.outputs = [NotebookNode(output_type="error", ename="UnknownTestCell", evalue=grade_id,
                                             traceback=[f"no checker exercise for test cell {grade_id}"])]
        return nb, resources
