"""Which gradebook a course uses, and writing one student's autograded result into it at once.

The gradebook is SQLite beside the course unless ``$FOUNDATIONS_DB_URL`` names another database
(PostgreSQL for several graders: ``postgresql://user:password@host/foundations``), which the
course's ``nbgrader_config.py`` reads too; ``python -m instructor autograde --db URL`` sets it.

A result graded elsewhere (a cluster worker, :mod:`instructor.grading.cluster`) arrives as plain data:
:func:`read_result` takes it from the worker's own gradebook, :func:`save_result` replaces the
student's submission with it in one transaction. A grader killed half-way leaves the student's
previous submission (or none) and never half of one; saving the same result twice leaves one.
"""
from __future__ import annotations

from checker import course

import os
import sys
from pathlib import Path

DB_ENV = "FOUNDATIONS_DB_URL"


def url(root: Path) -> str:
    return os.environ.get(DB_ENV) or f"sqlite:///{Path(root) / course.GRADEBOOK_FILE}"


def opened(address: str):
    """nbgrader's ``Gradebook(address)``. A new database is stamped with the schema's revision, read in this
    process (:func:`instructor.grading.nbgrader_command.known_alembic_head`); where nbgrader runs the ``alembic``
    command for it instead, it finds it on PATH: this Python's bin folder goes first on it."""
    from nbgrader.api import Gradebook

    from instructor.grading import nbgrader_command

    nbgrader_command.known_alembic_head()

    bin_dir = os.path.dirname(sys.executable)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return Gradebook(address)


def read_result(address: str, assignment: str, student: str) -> dict:
    """One student's submission as plain data: per notebook, each grade's automatic score and whether it
    needs a human, each comment's automatic text, the late penalty; and the submission's timestamp."""
    with opened(address) as gb:
        submission = gb.find_submission(assignment, student)
        return {
            "timestamp": submission.timestamp.isoformat() if submission.timestamp else None,
            "notebooks": {
                nb.name: {
                    "grades": {g.name: {"auto_score": g.auto_score, "needs_manual_grade": g.needs_manual_grade}
                               for g in nb.grades},
                    "comments": {c.name: c.auto_comment for c in nb.comments},
                    "late_submission_penalty": nb.late_submission_penalty,
                }
                for nb in submission.notebooks
            },
        }


def save_result(address: str, assignment: str, student: str, result: dict) -> None:
    """Replace ``student``'s submission of ``assignment`` with ``result`` (from :func:`read_result`),
    in one transaction, mirroring the assignment's cells as nbgrader's ``add_submission`` does."""
    from nbgrader import utils
    from nbgrader.api import Comment, Grade, MissingEntry, SubmittedAssignment, SubmittedNotebook

    with opened(address) as gb:
        gb.update_or_create_student(student)
        db = gb.db
        try:
            try:
                old = gb.find_submission(assignment, student)
            except MissingEntry:
                old = None
            if old is not None:
                for notebook in old.notebooks:
                    for row in (*notebook.grades, *notebook.comments):
                        db.delete(row)
                    db.delete(notebook)
                db.delete(old)
                db.flush()
            kwargs = {"timestamp": utils.parse_utc(result["timestamp"])} if result.get("timestamp") else {}
            parent = gb.find_assignment(assignment)
            with db.no_autoflush:  # every row is added by hand, then flushed together at the commit
                submission = SubmittedAssignment(assignment=parent, student=gb.find_student(student), **kwargs)
                db.add(submission)
                for notebook in parent.notebooks:
                    got = result["notebooks"].get(notebook.name, {})
                    nb = SubmittedNotebook(notebook=notebook, assignment=submission,
                                           late_submission_penalty=got.get("late_submission_penalty"))
                    db.add(nb)
                    grades, comments = got.get("grades", {}), got.get("comments", {})
                    for cell in (*notebook.grade_cells, *notebook.task_cells):
                        grade = Grade(cell_id=cell.id, notebook=nb)
                        if cell.name in grades:
                            grade.auto_score = grades[cell.name]["auto_score"]
                            grade.needs_manual_grade = grades[cell.name]["needs_manual_grade"]
                        db.add(grade)
                    for cell in (*notebook.solution_cells, *notebook.task_cells):
                        db.add(Comment(cell_id=cell.id, notebook=nb, auto_comment=comments.get(cell.name)))
            db.commit()
        except BaseException:
            db.rollback()
            raise
