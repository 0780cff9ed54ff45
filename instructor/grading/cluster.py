"""Graders on a Dask cluster: one task per student, carrying her files; the gradebook is written here.

``python -m instructor autograde --cluster tcp://scheduler:8786`` sends each student to a Dask
``distributed`` scheduler as one task. The task carries the student's submitted files, and the
course (``nbgrader_config.py``, ``source/``, ``release/``, ``solutions/``) goes to every worker once,
so workers need no shared filesystem. A worker grades with the local pipeline
(:func:`instructor.grading.autograde.grade_student`: a pre-imported nbgrader, kernels and checker children
forked from a template, every one confined, the hidden checks) in a scratch course of its own with
its own SQLite gradebook, and returns the autograded notebooks, the feedback and the student's
grades as plain data. Here, each finished task's result is written once: its files into
``autograde/`` and ``feedback/``, its grades into the course's gradebook in one transaction
(:func:`instructor.grading.gradebook.save_result`).

A worker that dies mid-task loses nothing: the scheduler runs the task on another worker, and
only a finished task is written. A task that keeps failing (its workers died
``distributed.scheduler.allowed-failures`` times, or it raised twice) is flagged ``not_graded``
with its reason, as a local run does.
"""
from __future__ import annotations

from checker import course as layout

import atexit
import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from instructor.grading import autograde as ag
from instructor.grading import gradebook
from instructor.grading import nbgrader_host
from instructor import tool_env

COURSE_PARTS = ("nbgrader_config.py", layout.SOURCE_DIR, layout.RELEASE_DIR, "solutions")
CONNECT_SECONDS = 30
TASK_FAILED = "the cluster gave up on her task: {kind}: {reason}"
CONNECTED = "cluster: {address}, {workers} workers ({threads} threads); {students} students sent"


class ClusterUnavailable(Exception):
    """No scheduler at ``address``; ``reason`` says why."""

    def __init__(self, address: str, reason: str):
        super().__init__(f"no Dask scheduler at {address}: {reason}")
        self.address, self.reason = address, reason


# -- what a task carries -------------------------------------------------------------------------
def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


def _unzip(data: bytes, into: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            target = (into / name).resolve()
            if not target.is_relative_to(into.resolve()):
                raise ValueError(f"refused: {name} is outside the folder it is unpacked into")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def course_bundle(root: Path) -> bytes:
    """What every worker needs of the course, zipped (no submissions, no gradebook)."""
    files = {}
    for part in COURSE_PARTS:
        path = root / part
        if path.is_file():
            files[part] = path.read_bytes()
        elif path.is_dir():
            files.update({f"{part}/{name}": data for name, data in _files(path).items()
                          if "/.ipynb_checkpoints/" not in f"/{name}"})
    return _zip(files)


def student_bundle(root: Path, student: str) -> bytes:
    return _zip(_files(root / layout.SUBMITTED_DIR / student / layout.ASSIGNMENT))


# -- a worker's side -----------------------------------------------------------------------------
class Station:
    """One worker process's grading setup: the course unpacked into a scratch folder with a gradebook of
    its own (the assignment released into it), a fork template and a pre-imported nbgrader."""

    def __init__(self, course: bytes):
        from checker.sandbox import template

        self.root = Path(tempfile.mkdtemp(prefix="foundations-worker-"))
        atexit.register(shutil.rmtree, self.root, True)
        _unzip(course, self.root)
        self.env = {**tool_env(), gradebook.DB_ENV: f"sqlite:///{self.root / layout.GRADEBOOK_FILE}"}
        self.template = template.running(lambda line: None)
        self.template.__enter__()  # sets $FOUNDATIONS_TEMPLATE in this worker process
        self.env[template.ADDRESS_ENV] = os.environ.get(template.ADDRESS_ENV, "")
        self.lanes = nbgrader_host.Lanes(self.root, self.env, 1, lambda line: None)
        code, log = self.lanes.run(["generate_assignment", ag.ASSIGNMENT, "--force"], 600)
        if code != 0:
            raise RuntimeError(f"the worker could not release the assignment: {ag.last_line(log)}")
        self.lock = threading.Lock()

    def grade(self, student: str, files: bytes, extra: list[str], seconds: float) -> dict:
        with self.lock:  # one student at a time per worker process: each is a whole lane
            for part in (layout.SUBMITTED_DIR, layout.AUTOGRADED_DIR, layout.FEEDBACK_DIR):
                shutil.rmtree(self.root / part / student, ignore_errors=True)
            folder = self.root / layout.SUBMITTED_DIR / student / layout.ASSIGNMENT
            folder.mkdir(parents=True)
            _unzip(files, folder)
            run = ag.grade_student(self.lanes, student, extra, seconds)
            answer = {"student": student, "returncode": run.returncode, "seconds": run.seconds, "log": run.log,
                      "feedback_problem": "", "autograded": b"", "feedback": b"", "result": None}
            if run.returncode == 0:
                answer["feedback_problem"] = ag.feedback_for(self.lanes, self.root, [student], seconds)[student]
                answer["result"] = gradebook.read_result(self.env[gradebook.DB_ENV], ag.ASSIGNMENT, student)
                answer["autograded"] = _zip(_files(self.root / layout.AUTOGRADED_DIR / student / layout.ASSIGNMENT))
                done = self.root / layout.FEEDBACK_DIR / student / layout.ASSIGNMENT
                answer["feedback"] = _zip(_files(done)) if done.is_dir() else b""
            return answer


_STATIONS: dict[str, Station] = {}
_STATIONS_LOCK = threading.Lock()


def grade_task(course: bytes, digest: str, student: str, files: bytes, extra: list[str], seconds: float) -> dict:
    """The task a worker runs for one student (the course is set up once per worker process)."""
    with _STATIONS_LOCK:
        station = _STATIONS.get(digest)
        if station is None:
            station = _STATIONS[digest] = Station(course)
    return station.grade(student, files, extra, seconds)


# -- the grader's side ---------------------------------------------------------------------------
def connect(address: str):
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailable(address, f"{type(exc).__name__}: {exc}") from None


def write_back(root: Path, answer: dict) -> ag.Run:
    """A finished task, written once: its notebooks and feedback here, its grades into the gradebook."""
    student = answer["student"]
    if answer["returncode"] == 0:
        for part, data in ((layout.AUTOGRADED_DIR, answer["autograded"]), (layout.FEEDBACK_DIR, answer["feedback"])):
            folder = root / part / student / ag.ASSIGNMENT
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            if data:
                _unzip(data, folder)
        gradebook.save_result(gradebook.url(root), ag.ASSIGNMENT, student, answer["result"])
    return ag.Run(student, answer["returncode"], answer["seconds"], answer["log"], answer["feedback_problem"])


def autograde(root: Path, address, only: list[str] | None = None, extra: list[str] = (),
              seconds: float = ag.STUDENT_SECONDS, progress=None, say=print) -> list[ag.Run]:
    """Grade every student (or ``only`` these) on the cluster at ``address`` (or a ``distributed.Client``)."""
    from distributed import as_completed

    names = only or ag.students(root / layout.SUBMITTED_DIR)
    client = address if hasattr(address, "submit") else connect(address)
    try:
        course = course_bundle(root)
        digest = hashlib.sha256(course).hexdigest()
        [shared] = client.scatter([course], broadcast=True, hash=False)
        info = client.scheduler_info()
        workers = info.get("workers", {})
        say(CONNECTED.format(address=getattr(client.scheduler, "address", address), workers=len(workers),
                             threads=sum(w.get("nthreads", 0) for w in workers.values()), students=len(names)))
        futures = {client.submit(grade_task, shared, digest, name, student_bundle(root, name), list(extra), seconds,
                                 key=f"grade-{name}-{digest[:8]}-{time.monotonic_ns()}", pure=False, retries=1): name
                   for name in names}
        runs: list[ag.Run] = []
        started = time.monotonic()
        for future in as_completed(futures):
            name = futures[future]
            try:
                run = write_back(root, future.result())
            except Exception as exc:  # noqa: BLE001 - KilledWorker, a task that raised twice, a lost worker
                reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "no reason given"
                why = TASK_FAILED.format(kind=type(exc).__name__, reason=reason)
                run = ag.Run(name, -1, 0.0, why, failure=why)
            runs.append(run)
            if progress:
                progress(ag.progress_line(len(runs), len(names), run, started))
        return sorted(runs, key=lambda r: r.student)
    finally:
        if client is not address:
            client.close()
