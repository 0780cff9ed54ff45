"""Each student's result, once: the rows of the gradebook and autograde's flags folded into one record.

``grades.csv`` and the LMS exports (:mod:`instructor.reports.lms_export`) are written from these records,
so a status or a total is decided in one place.
"""
from __future__ import annotations

import dataclasses

from checker.registry import NOTEBOOKS

GRADED, FLAGGED, NOT_GRADED = "graded", "flagged", "not graded"
UNGRADED_KINDS = ("not_graded",)  # a flag of these kinds means the grader could not decide her scores


@dataclasses.dataclass(frozen=True)
class StudentResult:
    student: str
    status: str  # GRADED | FLAGGED | NOT_GRADED
    autograded: dict[str, float]  # per notebook submitted: the autograded points
    autograded_max: dict[str, float]  # per notebook submitted: what its autograded cells could earn
    points: dict[str, float]  # per notebook submitted: every point, hand-graded answers included
    max_points: dict[str, float]  # per notebook submitted: what it could earn
    flags: tuple[str, ...] = ()  # "kind: reason", for the instructor
    pending_by_hand: int = 0  # written answers nobody has graded by hand yet (they count 0)
    first_name: str = ""
    last_name: str = ""
    email: str = ""

    @property
    def decided(self) -> bool:
        """Whether the grader decided her scores (a flagged student's are decided; a not-graded one's are not)."""
        return self.status != NOT_GRADED


def class_results(rows: list[dict], flags: list, people: dict[str, dict] | None = None) -> list[StudentResult]:
    """One record per student found in the gradebook's ``rows`` (``autograde.rows_of``) or in the ``flags``;
    ``people`` gives names and emails by student id where the gradebook has them."""
    people = people or {}
    results = []
    for student in sorted({r["student"] for r in rows} | {f.student for f in flags}):
        mine = [r for r in rows if r["student"] == student]
        auto = [r for r in mine if not r["manual"]]
        submitted = [nb for nb in NOTEBOOKS if any(r["notebook"] == nb for r in auto)]
        reasons = tuple(f"{f.kind}: {f.reason}" for f in flags if f.student == student)
        ungraded = any(f.kind in UNGRADED_KINDS for f in flags if f.student == student)
        status = NOT_GRADED if ungraded or not auto else (FLAGGED if reasons else GRADED)
        results.append(StudentResult(
            student=student, status=status,
            autograded={nb: sum(r["auto_score"] or 0 for r in auto if r["notebook"] == nb) for nb in submitted},
            autograded_max={nb: sum(r["max_score"] or 0 for r in auto if r["notebook"] == nb) for nb in submitted},
            points={nb: sum(r.get("score", r["auto_score"]) or 0 for r in mine if r["notebook"] == nb)
                    for nb in submitted},
            max_points={nb: sum(r["max_score"] or 0 for r in mine if r["notebook"] == nb) for nb in submitted},
            flags=reasons, pending_by_hand=sum(1 for r in mine if r.get("needs_manual")), **people.get(student, {})))
    return results


def people_of(gb) -> dict[str, dict]:
    """Names and emails the gradebook holds, by student id (empty strings where it has none)."""
    return {s.id: {"first_name": s.first_name or "", "last_name": s.last_name or "", "email": s.email or ""}
            for s in gb.students}
