"""The gradebook on a real PostgreSQL server (pgserver's binaries): a class graded into it by several
nbgrader processes at once, read back through nbgrader's own API, and a grader killed mid-write.

The totals are compared with the sample class's expected totals, which the SQLite run of the same
class equals (tests/test_autograde.py asserts it student by student).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from checker.registry import NOTEBOOKS
from instructor.grading import autograde as ag
from instructor.grading import classday
from instructor.grading import gradebook
from instructor.grading import nbgrader_command
from instructor.grading import sample_class
from instructor import tool_env
from tests.helpers import course_folder

pgserver = pytest.importorskip("pgserver", reason="pgserver (PostgreSQL's binaries from PyPI) is not installed")
pytest.importorskip("psycopg2", reason="the PostgreSQL driver psycopg2 is not installed")

pytestmark = pytest.mark.slow
JOBS = 3  # grading processes writing at once


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pgdata")
    server = pgserver.get_server(str(folder), cleanup_mode="stop")
    server.psql("CREATE DATABASE foundations;")
    url = f"postgresql+psycopg2://postgres:@/foundations?host={folder}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(gradebook.DB_ENV, url)
        yield url
    server.cleanup()


@pytest.fixture(scope="module")
def graded_into_postgres(postgres_url, tmp_path_factory):
    root = course_folder(tmp_path_factory.mktemp("pgclass"))
    roster = sample_class.scale_roster()
    sample_class.write_class(root / "release" / "foundations", root / "submitted", roster)
    result = classday.grade_class(root, jobs=JOBS, extra=["--Execute.timeout=15"], say=lambda line: None)
    return root, roster, result


def cell_counts(gb) -> dict[str, tuple[int, int]]:
    """Per notebook of the assignment, how many grades and comments a submission of it must hold."""
    assignment = gb.find_assignment(ag.ASSIGNMENT)
    return {nb.name: (len(nb.grade_cells) + len(nb.task_cells), len(nb.solution_cells) + len(nb.task_cells))
            for nb in assignment.notebooks}


def test_postgres_is_the_gradebook_and_sqlite_stays_the_default(graded_into_postgres, postgres_url, monkeypatch):
    root, _, _ = graded_into_postgres
    assert gradebook.url(root) == postgres_url
    assert not (root / "gradebook.db").exists()  # nothing went to SQLite
    monkeypatch.delenv(gradebook.DB_ENV)
    assert gradebook.url(root) == f"sqlite:///{root / 'gradebook.db'}"


def test_postgres_holds_every_submission_grade_and_comment_exactly_once(graded_into_postgres, postgres_url):
    from nbgrader.api import Comment, Gradebook, Grade, SubmittedNotebook

    root, roster, _ = graded_into_postgres
    with Gradebook(postgres_url) as gb:
        counts = cell_counts(gb)
        assert {s.id for s in gb.students} == {s.id for s in roster}
        for s in roster:
            submissions = submissions_of(gb, s.id)
            assert len(submissions) == 1, s.id
            notebooks = {nb.name: nb for nb in submissions[0].notebooks}
            assert sorted(notebooks) == sorted(NOTEBOOKS)
            for name, nb in notebooks.items():
                assert (len(nb.grades), len(nb.comments)) == counts[name], (s.id, name)
        total_notebooks = gb.db.query(SubmittedNotebook).count()
        assert total_notebooks == len(roster) * len(NOTEBOOKS)
        assert gb.db.query(Grade).count() == len(roster) * sum(g for g, _ in counts.values())
        assert gb.db.query(Comment).count() == len(roster) * sum(c for _, c in counts.values())


def test_postgres_totals_are_the_expected_ones_through_nbgrader_s_api_and_grades_csv(graded_into_postgres,
                                                                                     postgres_url):
    """The formgrader reads through NbGraderAPI: its submission list (SQL aggregates) gives each total."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    root, roster, result = graded_into_postgres
    expected = {s.id: sample_class.expected_total(s) for s in roster}
    assert classday.mismatches(result["table"], expected) == []
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()  # as the formgrader would
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    assert api.coursedir.db_url == postgres_url
    listed = {row["student"]: row for row in api.get_submissions(ag.ASSIGNMENT)}
    assert set(listed) == set(expected)
    rows = ag.gradebook_rows(root)
    autograded = {student: sum(r["auto_score"] or 0 for r in rows if r["student"] == student and not r["manual"])
                  for student in listed}
    assert autograded == pytest.approx(expected)
    for s in roster:  # the formgrader's score is the autograded one plus the hand-graded answers (none yet)
        assert listed[s.id]["score"] == pytest.approx(expected[s.id]), s.id
    assert all((root / "feedback" / s.id / ag.ASSIGNMENT).is_dir() for s in roster if s.kind == "complete")


def submissions_of(gb, student: str):
    from nbgrader.api import SubmittedAssignment
    return gb.db.query(SubmittedAssignment).filter(SubmittedAssignment.student_id == student).all()


def test_postgres_a_grader_killed_mid_write_leaves_it_consistent_and_the_regrade_counts_once(
        graded_into_postgres, postgres_url):
    """nbgrader writes a student's grades notebook by notebook. Her grades are zeroed first (as an earlier
    submission could have left them), a grader is killed once it has written some of the new ones; then
    the gradebook still holds one submission with every row once, and the next run puts her total right."""
    from nbgrader.api import Gradebook

    root, roster, _ = graded_into_postgres
    student = next(s for s in roster if s.kind == "complete")
    with Gradebook(postgres_url) as gb:
        for notebook in submissions_of(gb, student.id)[0].notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0.0
        gb.db.commit()
    proc = subprocess.Popen(nbgrader_command.command("autograde", ag.ASSIGNMENT, "--student", student.id, "--force",
                                                     "--Execute.timeout=15"),
                            cwd=root, env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline, partial = time.monotonic() + 120, 0.0
    while time.monotonic() < deadline and proc.poll() is None and not partial:
        with Gradebook(postgres_url) as gb:
            partial = submissions_of(gb, student.id)[0].score
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < partial < sample_class.expected_total(student), "the grader was not caught half-way"
    with Gradebook(postgres_url) as gb:
        counts = cell_counts(gb)
        [submission] = submissions_of(gb, student.id)
        assert {nb.name: (len(nb.grades), len(nb.comments)) for nb in submission.notebooks} == counts
        assert submission.score < sample_class.expected_total(student)  # half-written: a regrade is due
    runs = ag.autograde(root, only=[student.id], jobs=1, extra=["--Execute.timeout=15"])
    assert [r.returncode for r in runs] == [0]
    with Gradebook(postgres_url) as gb:
        [submission] = submissions_of(gb, student.id)
        assert {nb.name: (len(nb.grades), len(nb.comments)) for nb in submission.notebooks} == cell_counts(gb)
        assert submission.score == pytest.approx(sample_class.expected_total(student))
