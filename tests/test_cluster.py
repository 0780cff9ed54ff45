"""Graders on a Dask cluster of separate worker processes (a LocalCluster): the scale class
(``sample_class.scale_roster``) graded there, a worker killed while it grades, and a task that keeps
failing.

Totals and flags are compared with the sample class's expected ones, which the local run of the
same class equals (tests/test_autograde.py asserts it student by student).
"""
from __future__ import annotations

import csv
import os
import shutil
import signal
import threading

import pytest

from checker.registry import NOTEBOOKS
from instructor.grading import autograde as ag
from instructor.grading import classday
from instructor.grading import cluster
from instructor.grading import gradebook
from instructor.grading import sample_class
from tests.helpers import class_problems, course_folder

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")

pytestmark = pytest.mark.slow
BROKEN = "zz-broken-task"  # her task cannot even be unpacked on a worker, on every try


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    root = course_folder(tmp_path_factory.mktemp("clusterclass"))
    roster = sample_class.scale_roster()
    sample_class.write_class(root / "release" / "foundations", root / "submitted", roster)
    shutil.copytree(root / "submitted" / roster[0].id, root / "submitted" / BROKEN)
    real_bundle = cluster.student_bundle

    def bundle(course, student):
        return b"not a zip file" if student == BROKEN else real_bundle(course, student)

    killed: list[dict] = []
    said: list[str] = []
    with pytest.MonkeyPatch.context() as patch, \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                     silence_logs=40) as local, distributed.Client(local) as client:
        patch.setattr(cluster, "student_bundle", bundle)
        patch.delenv(gradebook.DB_ENV, raising=False)
        lines: list[str] = []

        def progress(line: str) -> None:
            lines.append(line)
            if len(lines) == 3 and not killed:  # a worker dies in the middle of the class, while it grades
                threading.Thread(target=kill_a_busy_worker, args=(client, killed), daemon=True).start()

        result = classday.grade_class(root, extra=["--Execute.timeout=15"], cluster=client, say=said.append,
                                      progress=progress)
        result["progress"] = lines
    return root, roster, result, killed, said


def kill_a_busy_worker(client, killed: list) -> None:
    processing = client.processing()
    busy = next((address for address, keys in processing.items() if keys), None)
    if busy is None:
        return
    pids = client.run(os.getpid, workers=[busy])
    os.kill(pids[busy], signal.SIGKILL)
    killed.append({"worker": busy, "pid": pids[busy], "was_grading": list(processing[busy])})


def test_cluster_grades_every_student_as_the_local_run_does(cluster_run):
    root, roster, result, _, said = cluster_run
    rows = {r["student"]: r for r in csv.DictReader((root / "grades.csv").open())}
    assert set(rows) == {s.id for s in roster} | {BROKEN}
    assert class_problems(rows, roster) == []
    assert any(line.startswith("cluster: ") and "2 workers" in line for line in said)
    assert len(result["progress"]) == len(roster) + 1 and "students/min" in result["progress"][-1]


def test_cluster_a_worker_killed_while_grading_loses_no_student_and_counts_none_twice(cluster_run):
    from nbgrader.api import Gradebook, SubmittedAssignment

    root, roster, _, killed, _ = cluster_run
    assert killed and killed[0]["was_grading"], "no worker was killed while it graded"
    with Gradebook(gradebook.url(root)) as gb:
        for s in roster:
            rows = gb.db.query(SubmittedAssignment).filter(SubmittedAssignment.student_id == s.id).all()
            assert len(rows) == 1, s.id
            assert sorted(nb.name for nb in rows[0].notebooks) == sorted(NOTEBOOKS)
    for s in roster:  # what the workers sent back was written here: the autograded notebooks and the feedback
        if not s.flag:
            assert len(list((root / "autograde" / s.id / ag.ASSIGNMENT).glob("*.ipynb"))) == len(NOTEBOOKS), s.id
            assert list((root / "feedback" / s.id / ag.ASSIGNMENT).glob("*.html")), s.id


def test_cluster_a_task_that_keeps_failing_is_flagged_not_graded_with_its_reason(cluster_run):
    root, _, _, _, _ = cluster_run
    row = next(r for r in csv.DictReader((root / "grades.csv").open()) if r["student"] == BROKEN)
    assert row["status"] == "not graded" and row["autograded_score"] == ""
    assert row["flags"].startswith("not_graded: " + cluster.TASK_FAILED.format(kind="BadZipFile", reason=""))


def test_cluster_cli_says_when_there_is_no_scheduler(monkeypatch, capsys):
    from instructor.__main__ import main

    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 2)
    assert main(["autograde", "--cluster", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("instructor: no Dask scheduler at tcp://127.0.0.1:9: ")
