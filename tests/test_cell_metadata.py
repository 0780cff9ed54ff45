"""A submission's grading metadata is put back as the release has it before nbgrader reads it: a copied graded cell,
an added grade cell, edited points or a graded cell turned into markdown cost the student nothing, and are flagged.

Attack round 17: one cell copied in JupyterLab (metadata and all) left the whole student "not graded" with nbgrader's
"Please see the above traceback" as the only reason.
"""
from __future__ import annotations

import copy
import csv
import json

import nbformat
import pytest

from checker.registry import Exercise, entries
from instructor.grading import autograde as ag
from instructor.grading import cell_metadata, classday
from instructor.authoring.notebooks import ROOT
from tests.helpers import course_folder

RELEASE = ROOT / "release" / "foundations" / "01_matmul.ipynb"


def _released() -> dict:
    return json.loads(RELEASE.read_text())


def _cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def hostile_metadata(nb: dict) -> dict:
    """Every way a student's notebook carries grading metadata the release does not give it."""
    nb = copy.deepcopy(nb)
    solution = _cell(nb, "matmul_elementwise")
    at = nb["cells"].index(solution)
    nb["cells"].insert(at + 1, dict(copy.deepcopy(solution), id="copied-cell"))  # a copy, pasted below
    bonus = nbformat.v4.new_code_cell("check('outer')")
    bonus["metadata"]["nbgrader"] = {"grade": True, "solution": False, "grade_id": "eve_bonus", "points": 50,
                                     "locked": True, "schema_version": 3, "task": False}
    nb["cells"].append(dict(bonus))
    _cell(nb, "test_outer")["metadata"]["nbgrader"]["points"] = 200
    return nb


def test_the_release_s_metadata_is_put_back_and_each_change_is_said():
    nb = hostile_metadata(_released())
    changes = cell_metadata.restore(nb, _released())
    assert changes == [cell_metadata.DUPLICATE.format(id="'matmul_elementwise'", count=2),
                       cell_metadata.EDITED.format(id="'test_outer'", fields="points"),
                       cell_metadata.NOT_RELEASED.format(id="'eve_bonus'")], changes
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"] if "nbgrader" in c.get("metadata", {})]
    assert ids == [c["metadata"]["nbgrader"]["grade_id"] for c in _released()["cells"]
                   if "nbgrader" in c.get("metadata", {})]  # each graded cell once, as released
    copies = [c for c in nb["cells"] if c.get("id") == "copied-cell"]
    assert copies and copies[0]["metadata"]["nbgrader"]["grade_id"] == "matmul_elementwise"  # the last is graded
    assert _cell(nb, "test_outer")["metadata"]["nbgrader"] == _cell(_released(), "test_outer")["metadata"]["nbgrader"]


def test_an_untouched_notebook_is_left_as_it_is_and_a_graded_cell_turned_into_markdown_is_plain():
    nb = _released()
    assert cell_metadata.restore(nb, _released()) == [] and nb == _released()
    _cell(nb, "outer")["cell_type"] = "markdown"
    assert cell_metadata.restore(nb, _released()) == [cell_metadata.TYPE_CHANGED.format(id="'outer'", got="markdown")]


def test_prepare_flags_a_notebook_too_large_to_read_and_restores_metadata(tmp_path, monkeypatch):
    root = tmp_path / "course"
    (root / "release" / "foundations").mkdir(parents=True)
    (root / "release" / "foundations" / "01_matmul.ipynb").write_text(RELEASE.read_text())
    for student in ("eve", "zed"):
        (root / "submitted" / student / "foundations").mkdir(parents=True)
    eve = root / "submitted" / "eve" / "foundations" / "01_matmul.ipynb"
    eve.write_text(json.dumps(hostile_metadata(_released())))
    zed = root / "submitted" / "zed" / "foundations" / "01_matmul.ipynb"
    zed.write_text(RELEASE.read_text())
    monkeypatch.setattr(ag, "SUBMITTED_BYTES", len(RELEASE.read_text()) - 1)  # zed's is just over it
    flags = {(f.student, f.kind): f.reason for f in ag.prepare(root / "submitted") if "01_matmul" in f.reason}
    assert flags[("eve", "cells")].startswith("01_matmul.ipynb: 'matmul_elementwise' appears 2 times"), flags
    assert ("zed", "too_large") in flags and not zed.exists(), flags
    assert cell_metadata.restore(json.loads(eve.read_text()), _released()) == []  # written back restored


def test_failure_line_says_what_nbgrader_raised_not_its_last_line():
    log = ("[AutogradeApp | WARNING] Cell with id 'matmul_elementwise' exists multiple times!\n"
           "[AutogradeApp | ERROR] Traceback (most recent call last):\n    KeyError: 'grade_id'\n"
           "[AutogradeApp | ERROR] Please see the the above traceback for details on the specific errors.\n")
    assert ag.failure_line(log) == "Cell with id 'matmul_elementwise' exists multiple times!; KeyError: 'grade_id'"
    assert ag.failure_line("just this\n") == "just this"


@pytest.mark.slow
def test_a_student_who_copied_a_graded_cell_is_graded_and_flagged(tmp_path):
    """Through nbgrader: full points for right answers, nothing for the added grade cell or the edited points."""
    from instructor.grading import sample_class

    root = course_folder(tmp_path)
    roster = [sample_class.Student("eve-copied-cell", "complete")]
    sample_class.write_class(root / "release" / "foundations", root / "submitted", roster)
    for notebook in ("02_forward", "03_backprop", "04_modules", "05_training"):  # one notebook is enough here
        (root / "submitted" / "eve-copied-cell" / "foundations" / f"{notebook}.ipynb").unlink()
    path = root / "submitted" / "eve-copied-cell" / "foundations" / "01_matmul.ipynb"
    path.write_text(json.dumps(hostile_metadata(json.loads(path.read_text()))))
    classday.grade_class(root, jobs=1, extra=["--Execute.timeout=15"])
    row = next(csv.DictReader((root / "grades.csv").open()))
    assert float(row["01_matmul"]) == sum(e.points for e in entries("01_matmul") if isinstance(e, Exercise)), row
    assert "cells: 01_matmul.ipynb: 'matmul_elementwise' appears 2 times" in row["flags"], row
    assert "not_graded" not in row["flags"], row


def test_metadata_that_is_not_a_mapping_is_emptied_and_said():
    nb = _released()
    nb["cells"][3]["metadata"] = "x"
    assert cell_metadata.restore(nb, _released()) == [cell_metadata.NOT_A_MAPPING.format(index=3)]
    assert nb["cells"][3]["metadata"] == {} and cell_metadata.restore(nb, _released()) == []


def test_no_notebook_however_made_stops_the_class_s_preparation(tmp_path):
    """Attack round 19: JSON nested 3000 deep (RecursionError) and a cell whose metadata is a string
    (AttributeError) each aborted autograde for the whole class: now each is set aside or repaired, flagged, and the
    honest student beside them is prepared."""
    root = tmp_path / "course"
    (root / "release" / "foundations").mkdir(parents=True)
    (root / "release" / "foundations" / "01_matmul.ipynb").write_text(RELEASE.read_text())
    texts = {"deep": json.dumps(_released())[:-1] + ', "evil": ' + "[" * 3000 + "]" * 3000 + "}",
             "meta": json.dumps(dict(_released(), cells=[dict(c, metadata="x") if i == 2 else c
                                                         for i, c in enumerate(_released()["cells"])])),
             "honest": RELEASE.read_text()}
    for student, text in texts.items():
        (root / "submitted" / student / "foundations").mkdir(parents=True)
        (root / "submitted" / student / "foundations" / "01_matmul.ipynb").write_text(text)
    flags = {(f.student, f.kind): f.reason for f in ag.prepare(root / "submitted") if "01_matmul" in f.reason}
    assert flags[("deep", "invalid_json")].startswith("01_matmul.ipynb is not a notebook that can be read"), flags
    assert cell_metadata.NOT_A_MAPPING.format(index=2) in flags[("meta", "cells")], flags
    assert not [k for k in flags if k[0] == "honest"], flags
    assert (root / "submitted" / "honest" / "foundations" / "01_matmul.ipynb").exists()


def test_prepare_sets_aside_a_notebook_of_more_code_than_the_checker_reads(tmp_path):
    """Attack round 21: 500,000 lines of code in one cell took the grader 2 GB and minutes per notebook, outside any
    jail. It is set aside before nbgrader, flagged too_large with the checker's own reason; the honest student beside
    it is graded as always."""
    from checker.submission import MAX_CODE_LINES

    root = tmp_path / "course"
    (root / "release" / "foundations").mkdir(parents=True)
    (root / "release" / "foundations" / "01_matmul.ipynb").write_text(RELEASE.read_text())
    padded = _released()
    _cell(padded, "outer")["source"] = "def outer(u, v):\n    return u[:, None] * v[None, :]\n" + "a = 1\n" * MAX_CODE_LINES
    for student, nb in (("wide", padded), ("honest", _released())):
        (root / "submitted" / student / "foundations").mkdir(parents=True)
        (root / "submitted" / student / "foundations" / "01_matmul.ipynb").write_text(json.dumps(nb))
    flags = {(f.student, f.kind): f.reason for f in ag.prepare(root / "submitted") if "01_matmul" in f.reason}
    assert "more than the checker reads" in flags[("wide", "too_large")], flags
    assert not (root / "submitted" / "wide" / "foundations" / "01_matmul.ipynb").exists()
    assert not [k for k in flags if k[0] == "honest"], flags
    assert (root / "submitted" / "honest" / "foundations" / "01_matmul.ipynb").exists()
