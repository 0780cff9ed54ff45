"""The course's names, written once: the assignment, its folders, its files, the prefixes of its cells.

Everything that names a folder of the course (``source/foundations``, ``submitted/<student>/foundations``),
a file the instructor reads (``gradebook.db``, ``grades.csv``) or a cell (``test_<exercise>``) takes the name
from here; nothing else spells them.
"""
from __future__ import annotations

ASSIGNMENT = "foundations"  # nbgrader's assignment: the folder under source/, release/, submitted/<student>/ ...
METADATA_KEY = ASSIGNMENT  # the key of the kit's own cell metadata ({"foundations": {"slot": ..., "name": ...}})

# nbgrader's folders in a course (each holds ASSIGNMENT, per student where nbgrader says so)
SOURCE_DIR, RELEASE_DIR, SUBMITTED_DIR, AUTOGRADED_DIR, FEEDBACK_DIR = \
    "source", "release", "submitted", "autograde", "feedback"

TEST_PREFIX = "test_"  # a graded test cell's grade_id: TEST_PREFIX + the exercise's name
VERDICT_KEY = "verdict"  # in a test cell's output metadata, under METADATA_KEY: the verdict as data

# what autograde writes beside the course
GRADEBOOK_FILE = "gradebook.db"
GRADES_CSV = "grades.csv"
GRADES_CHART = "grades.png"
MISTAKES_REPORT = "mistakes.html"
SIMILARITY_REPORT = "similarity.html"


def test_cell_id(exercise: str) -> str:
    return TEST_PREFIX + exercise


def exercise_of_test_cell(grade_id: str) -> str | None:
    """The exercise a graded test cell's grade_id names, or None for any other cell."""
    return grade_id[len(TEST_PREFIX):] if grade_id.startswith(TEST_PREFIX) else None
