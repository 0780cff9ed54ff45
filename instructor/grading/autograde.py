"""Autograde a whole class with nbgrader, in parallel, losing nothing.

1. ``prepare``: look at every submission before nbgrader does. A renamed notebook is graded
   under its real name; a file that is not valid JSON, or too large to read, is set aside and graded
   as missing; grading metadata she copied, added or edited is put back as the release has it
   (:mod:`instructor.grading.cell_metadata`); a missing notebook is noted. Each becomes a flag with its reason.
2. ``autograde``: ``nbgrader autograde --student S`` for each student, ``jobs`` at a time, each a
   fork of a pre-imported nbgrader (:mod:`instructor.grading.nbgrader_host`), with a progress line; then
   feedback, in groups. The course's nbgrader_config.py wires the checker into nbgrader's pipeline,
   so scores never come from the student's kernel. A student whose run fails is retried once and
   then flagged, never silently zeroed.
3. ``export``: read the gradebook through nbgrader's API into grades.csv with the flags.
"""
from __future__ import annotations

from checker import course

import concurrent.futures
import csv
import dataclasses
import json
import os
import re
import shutil
import time
from pathlib import Path

from checker import render
from checker.registry import NOTEBOOKS, Exercise, entries
from checker.errors import CodeTooLarge, SubmissionUnreadable
from checker.submission import notebook_code
from instructor.grading import cell_metadata
from instructor.grading import gradebook
from instructor.grading import nbgrader_host
from instructor import tool_env

ASSIGNMENT = course.ASSIGNMENT
from instructor.grading.verdicts import CONFINEMENT_LOG, KERNEL_PROBLEM_LOG, TAMPERING_LOG  # noqa: E402
STUDENT_SECONDS = 900
RETRY_MARKERS = ("database is locked",)
SUBMITTED_BYTES = 64 * 2**20  # a notebook larger than this is not read (its outputs are cleared by autograde anyway)
TOO_LARGE = "{notebook}.ipynb is {mib:.0f} MiB, over the {limit} MiB a submitted notebook may be; graded as missing"
CELLS_RESTORED = "{notebook}.ipynb: {changes}; graded with the release's grading metadata"
FEEDBACK_FAILED = "nbgrader generate_feedback failed (exit {code}): {last}"
FEEDBACK_PROGRESS = "feedback written for {done} students ({graded} of {total} graded)"
FEEDBACK_GROUP = 8  # students per generate_feedback run: its HTML templates are compiled once per run


@dataclasses.dataclass
class Flag:
    student: str
    kind: str  # missing | invalid_json | too_large | renamed | cells | kernel | tampering | not_graded
    reason: str

    def __post_init__(self):
        # a reason quotes her text (a cell's first line, a file's name, an error): its control characters shown as
        # escapes, never obeyed, in the summary's table, grades.csv and whatever prints them
        self.reason = render.plain(self.reason)


@dataclasses.dataclass
class Run:
    student: str
    returncode: int
    seconds: float
    log: str
    feedback: str = ""  # why generate_feedback failed for this student, if it did
    failure: str = ""  # why she was not graded, where no nbgrader log says it (a task the cluster gave up on)


def grade_ids(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text())
        return {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in data.get("cells", [])} - {None}
    except (OSError, ValueError, AttributeError):
        return set()


def expected_ids(notebook: str) -> set[str]:
    return {e.name for e in entries(notebook) if isinstance(e, Exercise)}


INVALID_JSON = "{notebook}.ipynb is not a notebook that can be read ({reason}); graded as missing"
CODE_TOO_LARGE = "{notebook}.ipynb: {reason}; graded as missing"


def prepare(submitted: Path) -> list[Flag]:
    """Fix what can be fixed without guessing, and flag every problem with its reason."""
    flags: list[Flag] = []
    for folder in sorted(p for p in submitted.glob(f"*/{ASSIGNMENT}") if p.is_dir()):
        student = folder.parent.name
        for notebook in NOTEBOOKS:
            path = folder / f"{notebook}.ipynb"
            if path.exists():
                size = path.stat().st_size
                if size > SUBMITTED_BYTES:  # read by nbgrader whole, outputs and all: set aside unread
                    path.rename(path.with_suffix(".ipynb.too-large"))
                    flags.append(Flag(student, "too_large", TOO_LARGE.format(
                        notebook=notebook, mib=size / 2**20, limit=SUBMITTED_BYTES // 2**20)))
                    continue
                try:
                    data = json.loads(path.read_text())
                except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
                    path.rename(path.with_suffix(".ipynb.invalid"))
                    flags.append(Flag(student, "invalid_json", INVALID_JSON.format(
                        notebook=notebook, reason=str(exc)[:60] or type(exc).__name__)))
                    continue
                released = submitted.parent / "release" / ASSIGNMENT / f"{notebook}.ipynb"
                try:
                    changes = cell_metadata.restore(data, json.loads(released.read_text())) \
                        if released.exists() and isinstance(data, dict) else []
                    if changes:
                        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
                except Exception as exc:  # noqa: BLE001 - her file, however it is made (RecursionError too): one
                    # notebook never stops the class's run; it is set aside, flagged, and nbgrader grades the rest
                    path.rename(path.with_suffix(".ipynb.invalid"))
                    flags.append(Flag(student, "invalid_json", INVALID_JSON.format(
                        notebook=notebook, reason=f"{type(exc).__name__}: {str(exc)[:60]}")))
                    continue
                try:
                    notebook_code(data, path)  # what the checker would refuse to read: set aside here, flagged
                except SubmissionUnreadable as exc:
                    large = isinstance(exc, CodeTooLarge)
                    path.rename(path.with_suffix(".ipynb.too-large" if large else ".ipynb.invalid"))
                    kind, template = ("too_large", CODE_TOO_LARGE) if large else ("invalid_json", INVALID_JSON)
                    flags.append(Flag(student, kind, template.format(notebook=notebook, reason=exc.reason)[:300]))
                    continue
                if changes:
                    flags.append(Flag(student, "cells", CELLS_RESTORED.format(notebook=notebook,
                                                                              changes="; ".join(changes))[:300]))
                continue
            wanted = expected_ids(notebook)
            candidates = [p for p in folder.glob("*.ipynb") if p.stem not in NOTEBOOKS and grade_ids(p) & wanted]
            if len(candidates) == 1:
                shutil.copyfile(candidates[0], path)
                flags.append(Flag(student, "renamed", f"{candidates[0].name} graded as {notebook}.ipynb"))
            else:
                flags.append(Flag(student, "missing", f"{notebook}.ipynb was not submitted"))
    return flags


def students(submitted: Path) -> list[str]:
    return sorted(p.parent.name for p in submitted.glob(f"*/{ASSIGNMENT}") if p.is_dir())


def grade_student(lanes: nbgrader_host.Lanes, student: str, extra: list[str], seconds: float) -> Run:
    started = time.monotonic()
    code, log = _retried(lanes, ["autograde", ASSIGNMENT, "--student", student, "--force", *extra], seconds)
    return Run(student, code, time.monotonic() - started, log)


def feedback_for(lanes: nbgrader_host.Lanes, root: Path, chunk: list[str], seconds: float) -> dict[str, str]:
    """generate_feedback for these students in one nbgrader run (its HTML templates compiled once for
    all of them); per student, why it failed ("" where it did not)."""
    others = sorted({p.parent.name for p in root.glob(f"autograde/*/{ASSIGNMENT}")} - set(chunk))
    if len(chunk) == 1:
        args = ["generate_feedback", ASSIGNMENT, "--student", chunk[0], "--force"]
    elif any("," in name for name in chunk + others):  # the exclusion list is comma-separated
        return {name: problem for one in chunk for name, problem in feedback_for(lanes, root, [one], seconds).items()}
    else:
        args = ["generate_feedback", ASSIGNMENT, "--force"]
        args += [f"--CourseDirectory.student_id_exclude={','.join(others)}"] if others else []
    code, text = _retried(lanes, args, seconds * len(chunk))
    problem = "" if code == 0 else FEEDBACK_FAILED.format(code=code, last=last_line(text))
    return {name: problem for name in chunk}


def _retried(lanes: nbgrader_host.Lanes, args: list[str], seconds: float) -> tuple[int, str]:
    for attempt in range(2):
        code, log = lanes.run(args, seconds)
        if code == 0 or not any(marker in log for marker in RETRY_MARKERS):
            break
    return code, log


def last_line(log: str) -> str:
    return ([line for line in log.strip().splitlines() if line.strip()][-1:] or ["no output"])[0][:200]


_RAISED = re.compile(r"^\s*([\w.]+(Error|Exception)|KeyError|AssertionError): ")
_SEE_ABOVE = "Please see the"  # nbgrader's last line when it failed: "Please see the the above traceback ..."


def failure_line(log: str) -> str:
    """Why an nbgrader run failed, as its log says it: the last exception raised, with nbgrader's last warning
    before it ("Cell with id ... exists multiple times!"), else its last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    raised = [i for i, line in enumerate(lines) if _RAISED.match(line)]
    if not raised:
        return last_line(log)
    warned = [line.split("]", 1)[-1].strip() for line in lines[:raised[-1]] if "| WARNING]" in line]
    return "; ".join(([warned[-1]] if warned else []) + [lines[raised[-1]]])[:200]


def progress_line(done: int, total: int, run: Run, started: float) -> str:
    elapsed = time.monotonic() - started
    rate = done / elapsed * 60 if elapsed else 0.0
    status = "ok" if run.returncode == 0 else f"FAILED ({run.returncode})"
    bar = "#" * int(30 * done / total)
    return f"[{bar:<30}] {done}/{total} {run.student} {status} {run.seconds:.1f} s ({rate:.1f} students/min)"


def autograde(root: Path, only: list[str] | None = None, jobs: int | None = None, extra: list[str] = (),
              seconds: float = STUDENT_SECONDS, progress=None, say=None, feedback: bool = False) -> list[Run]:
    """Run nbgrader autograde for every student (or ``only`` these), ``jobs`` at a time: each a fork of
    one of ``jobs`` pre-imported nbgrader processes (:mod:`instructor.grading.nbgrader_host`). With ``feedback``,
    graded students get their feedback in groups of ``FEEDBACK_GROUP``, in the same lanes, as soon as
    a group is graded."""
    names = only or students(root / course.SUBMITTED_DIR)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(names)))
    runs: dict[str, Run] = {}
    problems: dict[str, str] = {}
    started = time.monotonic()
    with nbgrader_host.Lanes(root, tool_env(), jobs, say or progress or (lambda line: None)) as lanes, \
            concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        grading = {pool.submit(grade_student, lanes, name, list(extra), seconds) for name in names}
        writing: set = set()
        ready: list[str] = []
        while grading or writing:
            done, _ = concurrent.futures.wait(grading | writing, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                if future in writing:
                    writing.discard(future)
                    problems.update(future.result())
                    if progress:
                        progress(FEEDBACK_PROGRESS.format(done=len(problems), graded=len(runs), total=len(names)))
                    continue
                grading.discard(future)
                run = runs.setdefault(future.result().student, future.result())
                ready += [run.student] if run.returncode == 0 and feedback else []
                if progress:
                    progress(progress_line(len(runs), len(names), run, started))
            while ready and (len(ready) >= FEEDBACK_GROUP or not grading):
                group, ready = ready[:FEEDBACK_GROUP], ready[FEEDBACK_GROUP:]
                writing.add(pool.submit(feedback_for, lanes, root, group, seconds))
    for name, problem in problems.items():
        runs[name].feedback = problem
    return sorted(runs.values(), key=lambda r: r.student)


def _logged(log: str, marker: str) -> list[str]:
    return [line.split(marker, 1)[1].strip(" :") for line in log.splitlines() if marker in line]


def run_flags(runs: list[Run]) -> list[Flag]:
    flags = []
    for run in runs:
        if run.returncode != 0:
            why = run.failure or f"nbgrader autograde failed: {failure_line(run.log)}"
            flags.append(Flag(run.student, "not_graded", why[:300]))
            continue
        if KERNEL_PROBLEM_LOG in run.log:
            flags.append(Flag(run.student, "kernel", "; ".join(_logged(run.log, KERNEL_PROBLEM_LOG))[:300]))
        if TAMPERING_LOG in run.log:
            flags.append(Flag(run.student, "tampering", " | ".join(_logged(run.log, TAMPERING_LOG))[:300]))
    return flags


def run_confinement(runs: list[Run]) -> dict[str, str]:
    """Per student, the sandbox layers the grading reported (the weakest, if notebooks differ)."""
    found = {}
    for run in runs:
        lines = sorted({l.split(CONFINEMENT_LOG, 1)[1].strip() for l in run.log.splitlines() if CONFINEMENT_LOG in l})
        if lines:
            found[run.student] = next((l for l in lines if not l.startswith("confined")), lines[0])
    return found


def save_confinement(root: Path, runs: list[Run]) -> Path:
    path = root / course.AUTOGRADED_DIR / "confinement.json"
    path.parent.mkdir(exist_ok=True)
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**old, **run_confinement(runs)}, indent=1))
    return path


def load_confinement(root: Path) -> dict[str, str]:
    path = root / course.AUTOGRADED_DIR / "confinement.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_flags(root: Path, flags: list[Flag], regraded: list[str]) -> Path:
    """Flags persist beside the gradebook; regrading some students replaces only their flags."""
    path = root / course.AUTOGRADED_DIR / "flags.json"
    path.parent.mkdir(exist_ok=True)
    old = json.loads(path.read_text()) if path.exists() else []
    kept = [f for f in old if f["student"] not in set(regraded)]
    path.write_text(json.dumps(kept + [dataclasses.asdict(f) for f in flags], indent=1))
    return path


def load_flags(root: Path) -> list[Flag]:
    path = root / course.AUTOGRADED_DIR / "flags.json"
    return [Flag(**f) for f in json.loads(path.read_text())] if path.exists() else []


def gradebook_rows(root: Path) -> list[dict]:
    """Per student and exercise, the autograded score, read through nbgrader's Gradebook API."""
    with gradebook.opened(gradebook.url(root)) as gb:
        return rows_of(gb)


def rows_of(gb) -> list[dict]:
    """:func:`gradebook_rows` of a gradebook already open (nbgrader's export plugins are handed one). ``score``
    is nbgrader's: the hand-given score where there is one, else the autograded one."""
    from nbgrader.api import MissingEntry

    rows = []
    for student in gb.students:
        for notebook in NOTEBOOKS:
            try:
                submission = gb.find_submission_notebook(notebook, ASSIGNMENT, student.id)
            except MissingEntry:
                continue
            for grade in submission.grades:
                rows.append({"student": student.id, "notebook": notebook, "cell": grade.name,
                             "auto_score": grade.auto_score, "score": grade.score, "max_score": grade.max_score,
                             "manual": not grade.name.startswith(course.TEST_PREFIX),
                             "needs_manual": bool(grade.needs_manual_grade)})
    return rows


def export(root: Path, path: Path | None = None) -> tuple[Path, list[dict]]:
    """grades.csv: one row per student; flagged submissions say so, distinct from a zero."""
    from instructor.reports.class_results import NOT_GRADED, class_results

    confinement = load_confinement(root)
    table = []
    for result in class_results(gradebook_rows(root), load_flags(root)):
        table.append({"student": result.student, "status": result.status,
                      "autograded_score": "" if result.status == NOT_GRADED else f"{sum(result.autograded.values()):g}",
                      "autograded_max": f"{sum(result.autograded_max.values()):g}" if result.autograded else "",
                      **{nb: f"{result.autograded.get(nb, 0):g}" for nb in NOTEBOOKS},
                      "flags": " | ".join(result.flags), "confinement": confinement.get(result.student, "")})
    path = path or root / course.GRADES_CSV
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]) if table else ["student"])
        writer.writeheader()
        writer.writerows(table)
    return path, table


def pass_rates(root: Path) -> dict[str, float]:
    rows = [r for r in gradebook_rows(root) if not r["manual"] and r["cell"].startswith(course.TEST_PREFIX)]
    rates = {}
    for notebook in NOTEBOOKS:
        for e in entries(notebook):
            if isinstance(e, Exercise):
                cells = [r for r in rows if r["notebook"] == notebook and r["cell"] == f"test_{e.name}"]
                if cells:
                    rates[f"{notebook}:{e.name}"] = sum((r["auto_score"] or 0) >= r["max_score"] for r in cells) / len(cells)
    return rates
