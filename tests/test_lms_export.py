"""Grades the LMS imports: round trips through sample rosters written from Canvas's and Moodle's documentation,
and every roster mismatch (not on the roster, no submission, not graded, two rows for one student) both ways."""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from checker.registry import NOTEBOOKS
from instructor.reports import lms_export as lms
from instructor.reports.class_results import FLAGGED, GRADED, NOT_GRADED, StudentResult, class_results

SAMPLES = Path(__file__).parent / "lms"
CANVAS_ROSTER = SAMPLES / "canvas_gradebook_export.csv"
MOODLE_ROSTER = SAMPLES / "moodle_grade_export.csv"


def result(student, status=GRADED, points=None, email="", first="", last=""):
    points = {nb: 20.0 + i for i, nb in enumerate(NOTEBOOKS)} if points is None else points
    return StudentResult(student=student, status=status, autograded=dict(points),
                         autograded_max={nb: 25.0 for nb in points}, points=dict(points),
                         max_points={nb: 25.0 for nb in points}, email=email, first_name=first, last_name=last)


def read(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_canvas_round_trip_through_its_own_gradebook_export(tmp_path):
    results = [result("ada", points={"01_matmul": 21.5, "02_forward": 19}), result("grace")]
    out = tmp_path / "canvas.csv"
    report = lms.export(results, "canvas", out, lms.read_roster(CANVAS_ROSTER, "canvas"))
    rows = read(out)
    header = list(rows[0])
    assert header[:5] == list(lms.CANVAS_IDS)
    # the roster's own columns update Canvas's assignments 4101 and 4102; the others are created by name
    assert header[5:] == ["01_matmul (4101)", "02_forward (4102)", *NOTEBOOKS[2:]]
    assert rows[0]["Student"] == lms.CANVAS_POINTS_ROW and rows[0]["01_matmul (4101)"] == "25"
    by_login = {r["SIS Login ID"]: r for r in rows[1:]}
    assert by_login["ada"]["Student"] == "Lovelace, Ada" and by_login["ada"]["ID"] == "1001"
    assert by_login["ada"]["01_matmul (4101)"] == "21.5" and by_login["ada"]["02_forward (4102)"] == "19"
    assert by_login["ada"][NOTEBOOKS[2]] == ""  # not submitted: empty unless asked for 0
    assert by_login["grace"][NOTEBOOKS[-1]] == f"{20 + len(NOTEBOOKS) - 1:g}"
    assert report.unmatched == [] and report.unmatched_path is None
    # Turing and Canvas's test student are on the roster with no submission: their rows are there, empty
    assert by_login["alan"]["01_matmul (4101)"] == "" and sorted(report.roster_only) == ["Student, Test",
                                                                                         "Turing, Alan"]


def test_a_roster_student_with_no_submission_is_empty_or_zero_as_asked(tmp_path):
    roster = lms.read_roster(CANVAS_ROSTER, "canvas")
    for missing, expected in ((lms.EMPTY, ""), (lms.ZERO, "0")):
        out = tmp_path / f"{missing}.csv"
        lms.export([result("ada")], "canvas", out, roster, missing=missing)
        alan = next(r for r in read(out) if r["SIS Login ID"] == "alan")
        assert [alan[c] for c in list(alan)[5:]] == [expected] * len(NOTEBOOKS)


def test_a_student_not_on_the_roster_is_listed_never_dropped_silently(tmp_path):
    out = tmp_path / "canvas.csv"
    report = lms.export([result("ada"), result("mallory", points={"01_matmul": 7})], "canvas", out,
                        lms.read_roster(CANVAS_ROSTER, "canvas"))
    assert report.unmatched == [("mallory", lms.NOT_ON_ROSTER)]
    assert "mallory" not in out.read_text()
    side = read(report.unmatched_path)
    assert side == [{"student": "mallory", "reason": lms.NOT_ON_ROSTER, "status": GRADED, "01_matmul": "7",
                     **{nb: "" for nb in NOTEBOOKS[1:]}}]
    said = "\n".join(lms.summary(report, lms.EMPTY))
    assert lms.UNMATCHED.format(n=1, path=report.unmatched_path) in said and "mallory: not on the roster" in said


def test_a_student_matching_two_roster_rows_is_listed_with_both(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,email\nada,ada@uni.example\nada.l,ADA@uni.example\n")
    report = lms.export([result("ada", email="ada@uni.example")], "csv", tmp_path / "o.csv",
                        lms.read_roster(roster, "csv"))
    assert report.unmatched == [("ada", lms.AMBIGUOUS.format(n=2, rows="ada; ada.l"))]


def test_a_student_who_could_not_be_graded_is_not_exported_as_zero_unless_asked(tmp_path):
    results = [result("ada", status=NOT_GRADED, points={}), result("grace", status=FLAGGED, points={"01_matmul": 0})]
    roster = lms.read_roster(CANVAS_ROSTER, "canvas")
    for ungraded, expected in ((lms.EMPTY, ""), (lms.ZERO, "0")):
        out = tmp_path / f"{ungraded}.csv"
        report = lms.export(results, "canvas", out, roster, ungraded=ungraded)
        rows = {r["SIS Login ID"]: r for r in read(out)}
        assert rows["ada"]["01_matmul (4101)"] == expected
        assert rows["grace"]["01_matmul (4101)"] == "0"  # flagged (tampering earns 0): a decided zero
        assert report.not_graded == ["ada"]


def test_moodle_matches_by_email_and_by_id_number(tmp_path):
    results = [result("student-7", email="Grace@uni.example"), result("S1001")]
    out = tmp_path / "moodle.csv"
    report = lms.export(results, "moodle", out, lms.read_roster(MOODLE_ROSTER, "moodle"))
    rows = {r["Email address"]: r for r in read(out)}
    assert list(rows["ada@uni.example"])[:4] == list(lms.MOODLE_IDS)
    assert rows["grace@uni.example"]["ID number"] == "S1002"
    assert rows["grace@uni.example"][f"foundations {NOTEBOOKS[0]}"] == "20"
    assert rows["ada@uni.example"][f"foundations {NOTEBOOKS[1]}"] == "21"
    assert rows["alan@uni.example"][f"foundations {NOTEBOOKS[0]}"] == ""
    assert report.unmatched == []


def test_without_a_roster_every_student_is_written_under_the_course_id(tmp_path):
    out = tmp_path / "canvas.csv"
    lms.export([result("ada", first="Ada", last="Lovelace"), result("bob")], "canvas", out)
    rows = read(out)[1:]
    assert [(r["Student"], r["SIS Login ID"]) for r in rows] == [("Lovelace, Ada", "ada"), ("bob", "bob")]
    plain = tmp_path / "plain.csv"
    lms.export([result("ada", points={"01_matmul": 3}), result("eve", status=NOT_GRADED, points={})], "csv", plain)
    rows = {r["student"]: r for r in read(plain)}
    assert rows["ada"]["total"] == "3" and rows["ada"]["status"] == GRADED
    assert rows["eve"]["total"] == "" and rows["eve"]["status"] == NOT_GRADED


def test_a_roster_that_is_not_an_lms_export_is_refused_with_what_it_has(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,score\nada,3\n")
    with pytest.raises(lms.RosterInvalid) as caught:
        lms.read_roster(bad, "canvas")
    assert str(caught.value) == lms.ROSTER_COLUMNS.format(path=bad, lms="canvas", wanted=", ".join(lms.CANVAS_KEYS),
                                                          found="name, score")
    empty = tmp_path / "empty.csv"
    empty.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n    Points Possible,,,,\n")
    with pytest.raises(lms.RosterInvalid, match="has no students"):
        lms.read_roster(empty, "canvas")
    assert lms.read_roster(CANVAS_ROSTER, "canvas")  # and a real export is read


def test_class_results_decide_status_once():
    from instructor.grading.autograde import Flag

    rows = [{"student": "ada", "notebook": NOTEBOOKS[0], "cell": "test_x", "auto_score": 2, "score": 2,
             "max_score": 3, "manual": False},
            {"student": "ada", "notebook": NOTEBOOKS[0], "cell": "q_x", "auto_score": None, "score": 1.5,
             "max_score": 2, "manual": True},
            {"student": "bob", "notebook": NOTEBOOKS[0], "cell": "test_x", "auto_score": 0, "score": 0,
             "max_score": 3, "manual": False}]
    flags = [Flag("bob", "tampering", "cell 3"), Flag("eve", "not_graded", "kernel died")]
    got = {r.student: r for r in class_results(rows, flags)}
    assert (got["ada"].status, got["ada"].autograded, got["ada"].points) == (GRADED, {NOTEBOOKS[0]: 2},
                                                                             {NOTEBOOKS[0]: 3.5})
    assert got["ada"].autograded_max == {NOTEBOOKS[0]: 3} and got["ada"].max_points == {NOTEBOOKS[0]: 5}
    assert got["bob"].status == FLAGGED and got["bob"].decided
    assert got["eve"].status == NOT_GRADED and not got["eve"].decided


def test_the_cli_exits_1_and_says_who_is_missing(tmp_path, monkeypatch, capsys):
    """``python -m instructor export`` on a course: its own gradebook, a roster that lacks one student."""
    from instructor import __main__ as cli
    from instructor.authoring import notebooks
    from instructor.grading import autograde
    from instructor.reports import class_results as cr

    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    monkeypatch.setattr(autograde, "rows_of", lambda gb: [
        {"student": s, "notebook": NOTEBOOKS[0], "cell": "test_x", "auto_score": 1, "score": 1, "max_score": 1,
         "manual": False} for s in ("ada", "zed")])
    monkeypatch.setattr(cr, "people_of", lambda gb: {})
    roster = tmp_path / "roster.csv"
    roster.write_text(CANVAS_ROSTER.read_text())
    code = cli.main(["export", "--to", "canvas", "--roster", str(roster), "--db", f"sqlite:///{tmp_path}/g.db"])
    said = capsys.readouterr().out
    assert code == 1 and "zed: not on the roster" in said and (tmp_path / "grades-canvas.csv").exists()
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n")
    assert cli.main(["export", "--to", "canvas", "--roster", str(roster), "--db", f"sqlite:///{tmp_path}/g.db"]) == 2
    assert "has no students" in capsys.readouterr().err


def test_zero_is_never_written_for_a_roster_row_that_may_be_an_unmatched_student(tmp_path):
    """``--missing zero`` with a submission the roster does not match: the rows without a submission stay empty
    (one of them may be hers) and the summary says why; with every submission matched, 0 is written."""
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n"
                      "\"Lovelace, Ada\",1,,ada@uni.example,A\n\"Hopper, Grace\",2,,grace-h@uni.example,A\n")
    out = tmp_path / "c.csv"
    report = lms.export([result("ada"), result("grace")], "canvas", out, lms.read_roster(roster, "canvas"),
                        missing=lms.ZERO)
    rows = {r["Student"]: r for r in read(out)}
    assert report.zero_withheld and rows["Hopper, Grace"][NOTEBOOKS[0]] == ""  # not 0: she is probably "grace"
    assert rows["Lovelace, Ada"][NOTEBOOKS[0]] == "20"  # matched by her email's login part
    said = lms.summary(report, lms.ZERO)
    assert lms.ZERO_WITHHELD.format(n=1) in said
    report = lms.export([result("ada")], "canvas", out, lms.read_roster(roster, "canvas"), missing=lms.ZERO)
    assert not report.zero_withheld and {r["Student"]: r for r in read(out)}["Hopper, Grace"][NOTEBOOKS[0]] == "0"


def test_a_semicolon_export_with_a_student_listed_twice_and_a_stray_field_is_read(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeffStudent;ID;SIS User ID;SIS Login ID;Section\n    Points Possible;;;;\n"
                      "Lovelace, Ada;1;;ada;A\nLovelace, Ada;1;;ada;A\nHopper; Grace;2;;grace;A;extra\n")
    rows = lms.read_roster(roster, "canvas")
    assert [r.label for r in rows] == ["1", "Grace"]  # one Ada; the row with a stray separator read, not a crash
    report = lms.export([result("ada")], "canvas", tmp_path / "o.csv", rows)
    assert report.unmatched == [] and report.rows == 2


def test_what_to_check_before_posting_is_said(tmp_path):
    """Flagged students and written answers still to grade by hand are exported, and the summary names them."""
    flagged = dataclasses.replace(result("eve"), status=FLAGGED)
    pending = dataclasses.replace(result("ada"), pending_by_hand=2)
    report = lms.export([flagged, pending, result("bob", status=NOT_GRADED, points={})], "csv", tmp_path / "o.csv")
    said = lms.summary(report, lms.EMPTY, lms.ZERO)
    assert lms.FLAGGED_LINE.format(n=1, names="eve") in said
    assert lms.PENDING_LINE.format(n=1) in said
    assert lms.NOT_GRADED_LINE.format(n=1, shown="0", names="bob") in said
    assert lms.number(21.5) == "21.5" and lms.number(0.00001) == "0" and lms.number(1234567.0) == "1234567"
