"""A notebook's result in Gradescope's autograder format (``results.json``), so that a course on Gradescope
runs the same checks: ``python -m checker NB --format gradescope > /autograder/results/results.json``.

The fields are the ones Gradescope documents for an autograder's results: a top-level ``score``,
``execution_time``, ``output`` and ``tests``; per test ``name``, ``number``, ``score``, ``max_score``,
``status`` (``passed`` or ``failed``) and ``output``. Written questions are graded by hand on
Gradescope's own outline, so they are not tests here.
"""
from __future__ import annotations

from checker.render import plain
from checker.results import MANUAL, PASSED, NotebookResult

TOP_FIELDS = ("score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
              "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard")
TEST_FIELDS = ("score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
               "tags", "visibility", "extra_data")
TEST_STATUSES = ("passed", "failed")
UNREADABLE_ADVICE = ("Nothing was graded. Upload the lesson notebook under its own name (01_matmul.ipynb ...), "
                     "saved from Jupyter, and submit again.")


def results_json(result: NotebookResult) -> dict:
    tests = []
    for number, e in enumerate((e for e in result.exercises if e.status != MANUAL), start=1):
        tests.append({"name": e.name, "number": f"{number}", "score": float(e.score),
                      "max_score": float(e.max_score), "status": "passed" if e.status == PASSED else "failed",
                      "output": "\n".join(plain(line) for line in e.feedback) or e.status.replace("_", " "),
                      "output_format": "text", "visibility": "visible",
                      "extra_data": {"checker_status": e.status}})
    notes = [*result.notes, *result.tampering]  # each tampering line says "tampering: " itself (TAMPERING_NOTE)
    return {"score": float(sum(t["score"] for t in tests)), "execution_time": round(result.seconds),
            "output": "\n".join(plain(n) for n in notes) or f"{result.notebook}: checked by the foundations checker",
            "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"notebook": result.notebook}, "tests": tests}


def unreadable_json(reason: str, seconds: float) -> dict:
    """results.json for a submission the checker could not read (a notebook named otherwise, invalid JSON): no
    points, and the reason where the student reads it."""
    return {"score": 0.0, "execution_time": round(seconds), "output": f"{plain(reason)}\n{UNREADABLE_ADVICE}",
            "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
