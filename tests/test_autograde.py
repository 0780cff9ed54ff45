"""A hostile sample class through nbgrader: every score as expected, every problem flagged, nothing lost."""
from __future__ import annotations

import csv

import pytest

from checker.registry import NOTEBOOKS, Exercise, all_entries
from instructor.grading import autograde as ag
from instructor.grading import classday
from instructor.grading import sample_class
from instructor.authoring.notebooks import ROOT
from tests.helpers import class_problems, course_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = course_folder(tmp_path_factory.mktemp("class"))
    roster = sample_class.build_roster(**sample_class.CI_ROSTER)
    sample_class.write_class(root / "release" / "foundations", root / "submitted", roster)
    result = classday.grade_class(root, jobs=2, extra=["--Execute.timeout=15"])
    return root, roster, result


def test_every_student_gets_the_expected_total_and_status(graded_class):
    root, roster, result = graded_class
    rows = {r["student"]: r for r in csv.DictReader((root / "grades.csv").open())}
    assert set(rows) == {s.id for s in roster}
    assert class_problems(rows, roster) == []


def test_the_summary_compares_with_the_expected_table_both_ways(graded_class):
    root, roster, result = graded_class
    expected = {s.id: sample_class.expected_total(s) for s in roster}
    text = classday.summary(root, result["table"], result["seconds"], len(roster),
                           classday.write_reports(root, result["table"]), expected)
    assert f"expected totals for {len(roster)} of {len(roster)} students" in text
    assert (root / "grades.png").stat().st_size > 0
    off = dict(expected, **{roster[0].id: expected[roster[0].id] + 1})
    text = classday.summary(root, result["table"], result["seconds"], len(roster),
                           classday.write_reports(root, result["table"]), off)
    assert f"for {len(roster) - 1} of {len(roster)} students; they differ for {roster[0].id}" in text
    assert "(differs)" in text


def test_the_similarity_report_lists_the_planted_copies_and_nobody_else(graded_class):
    """After autograde, from the autograded notebooks: similarity.html beside grades.csv, and the summary's section
    names exactly the planted pairs."""
    pytest.importorskip("copydetect", reason="the similarity report's engine (copydetect) is not installed")
    from instructor.reports import similarity, similarity_report

    root, roster, result = graded_class
    reports = classday.write_reports(root, result["table"])
    planted = {frozenset((s.id, source)) for s in roster for source in s.copied_from.values()}
    assert planted and {frozenset((p.a, p.b)) for p in reports.similar} == planted
    page = (root / "similarity.html").read_text()
    assert all(f"feedback/{s}/foundations/" in page for pair in planted for s in pair)
    text = classday.summary(root, result["table"], result["seconds"], len(roster), reports)
    groups = {frozenset(g) for g in similarity.clusters(reports.similar)}
    assert groups == {frozenset().union(*planted)}  # the CI class's three copiers copied one student
    assert similarity_report.TEXT_TITLE.format(pairs=similarity_report.plural(len(planted), "pair"),
                                               groups=similarity_report.plural(1, "group")) in text


def test_the_demo_s_canvas_export_lists_who_is_not_on_the_roster(graded_class):
    """``make demo``'s export: a roster as Canvas exports it, the last student left off it, a newcomer on it."""
    from instructor.reports import lms_export

    root, roster, _ = graded_class
    said = []
    classday.say_export(root, roster, say=said.append)
    assert f"  {roster[-1].id}: {lms_export.NOT_ON_ROSTER}" in said
    rows = {r["SIS Login ID"]: r for r in csv.DictReader((root / "grades-canvas.csv").open()) if r["SIS Login ID"]}
    assert set(rows) == {s.id for s in roster[:-1]} | {"newcomer1"} and rows["newcomer1"][NOTEBOOKS[0]] == ""


def test_every_exercise_score_matches(graded_class):
    root, roster, _ = graded_class
    got = {(r["student"], r["notebook"], r["cell"]): r["auto_score"] for r in ag.gradebook_rows(root)}
    wrong = []
    for s in roster:
        for (notebook, name), (status, score) in s.expected.items():
            actual = got.get((s.id, notebook, f"test_{name}"))
            if (actual or 0.0) != score:
                wrong.append((s.id, notebook, name, status, score, actual))
    assert wrong == []


def test_no_tampering_gains_a_point(graded_class):
    root, roster, _ = graded_class
    rows = {r["student"]: r for r in csv.DictReader((root / "grades.csv").open())}
    for s in roster:
        if s.kind.startswith("tamper") or s.kind == "deleted-test-cell":
            honest = sum(e.points for e in all_entries() if isinstance(e, Exercise))
            assert float(rows[s.id]["autograded_score"]) == sample_class.expected_total(s) < honest


def test_feedback_is_generated_for_every_graded_student(graded_class):
    root, roster, _ = graded_class
    for s in roster:
        html = list((root / "feedback" / s.id / "foundations").glob("*.html"))
        assert len(html) == len(NOTEBOOKS) - sum(1 for p in s.file_problem.values() if p in ("missing", "invalid_json")), s.id


def test_regrading_is_idempotent_and_without_the_nbgrader_host_it_is_said_once(graded_class, monkeypatch):
    """The class was graded by forks of pre-imported nbgrader processes; two flagged students graded again, where
    no such process can start: each gets a fresh nbgrader process, the grader hears why once, and every grade
    (theirs and the class's) is the same as before."""
    from instructor.grading import nbgrader_host

    def unavailable(*args, **kwargs):
        raise nbgrader_host.HostUnavailable("test: no host")

    monkeypatch.setattr(nbgrader_host, "Host", unavailable)
    root, roster, _ = graded_class
    before = {r["student"]: r for r in csv.DictReader((root / "grades.csv").open())}
    chosen = sorted(s.id for s in roster if s.kind in ("tamper-allclose", "dead-kernel"))
    said = []
    again = classday.grade_class(root, jobs=2, only=chosen, extra=["--Execute.timeout=15"], say=said.append)
    after = {r["student"]: r for r in csv.DictReader((root / "grades.csv").open())}
    assert len(chosen) == 2 and after == before
    assert [r.returncode for r in again["runs"]] == [0, 0]
    assert said.count(nbgrader_host.HOST_FAILED.format(reason="test: no host")) == 1
    assert not any(line.startswith("nbgrader: one pre-imported") for line in said)


def test_gradebook_is_consistent_through_nbgrader_api(graded_class):
    from nbgrader.api import Gradebook

    root, roster, _ = graded_class
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert {s.id for s in gb.students} == {s.id for s in roster}
        assignment = gb.find_assignment("foundations")
        assert [n.name for n in assignment.notebooks] == list(NOTEBOOKS)
        rows = {r["student"]: r for r in csv.DictReader((root / "grades.csv").open())}
        for s in roster:
            submission = gb.find_submission("foundations", s.id)
            assert float(rows[s.id]["autograded_score"]) == pytest.approx(
                sum(n.score for n in submission.notebooks) - 0.0)


def test_the_jailbreak_student_took_nothing_and_changed_nothing(graded_class):
    """Her last cell tried to import the solutions and write into the course, home, /var/tmp, site-packages
    and the checker, in her kernel and in the checker's child: she earns what her own code earns."""
    import site
    from pathlib import Path

    root, roster, result = graded_class
    student = next(s for s in roster if s.kind == "jailbreak")
    row = next(r for r in result["table"] if r["student"] == student.id)
    assert float(row["autograded_score"]) == sample_class.expected_total(student)
    assert (root / "nbgrader_config.py").read_text() == (ROOT / "nbgrader_config.py").read_text()
    for path in (root / "jailbreak.txt", Path.home() / "jailbreak.txt", Path("/var/tmp/jailbreak.txt"),
                 Path(site.getsitepackages()[0]) / "sitecustomize.py", ROOT / "checker" / "jailbreak.py"):
        assert not path.exists(), path
    feedback = (root / "autograde" / student.id / "foundations" / "01_matmul.ipynb").read_text()
    assert "refused:" in feedback  # what her kernel printed: each attempt was refused


def test_nbgrader_export_with_the_kits_lms_plugins_writes_every_student(graded_class):
    """The ecosystem's hook: ``nbgrader export --exporter=...CanvasExportPlugin`` in the course, with a roster
    that lacks one student and has one with no submission; and the plain CSV agrees with grades.csv."""
    import subprocess
    import sys

    from instructor import tool_env
    from instructor.grading import nbgrader_command
    from instructor.reports import lms_export as lms

    root, roster, _ = graded_class
    graded = {r["student"]: r for r in csv.DictReader((root / "grades.csv").open())}
    left_out = sorted(graded)[0]
    people = [s for s in sorted(graded) if s != left_out]
    (root / "roster.csv").write_text("Student,ID,SIS User ID,SIS Login ID,Section\n    Points Possible,,,,\n"
                                     + "".join(f"Name {i},{100 + i},,{s},A\n" for i, s in enumerate(people))
                                     + "Late Joiner,999,,late,A\n")
    run = subprocess.run([sys.executable, "-m", "nbgrader", "export",
                          "--exporter=instructor.reports.lms_export.CanvasExportPlugin", "--to=canvas.csv",
                          "--CanvasExportPlugin.roster=roster.csv"],
                         cwd=root, env=tool_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr[-2000:]  # written, and a student is not on the roster: as the command
    rows = {r["SIS Login ID"]: r for r in csv.DictReader((root / "canvas.csv").open()) if r["SIS Login ID"]}
    assert set(rows) == set(people) | {"late"}
    assert rows["late"][NOTEBOOKS[0]] == ""  # on the roster, no submission: empty
    assert f"{left_out}: {lms.NOT_ON_ROSTER}" in run.stderr  # nbgrader logs on stderr
    side = list(csv.DictReader((root / "canvas.unmatched.csv").open()))
    assert [r["student"] for r in side] == [left_out]
    # the same plugins through the kit's lighter nbgrader command (nbgrader's own startup is paid once above)
    bad = subprocess.run(nbgrader_command.command("export", "--exporter=instructor.reports.lms_export.CanvasExportPlugin",
                                                  "--to=bad.csv", "--CanvasExportPlugin.roster=grades.csv"),
                         cwd=root, env=tool_env(), capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "does not look like a canvas export" in bad.stderr
    assert "Traceback" not in bad.stderr, bad.stderr[-2000:]
    plain = subprocess.run(nbgrader_command.command("export", "--exporter=instructor.reports.lms_export.CsvExportPlugin",
                                                    "--to=plain.csv"),
                           cwd=root, env=tool_env(), capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr[-2000:]
    for row in csv.DictReader((root / "plain.csv").open()):
        assert row["status"] == graded[row["student"]]["status"]
        if row["status"] != "not graded":  # hand-graded answers are ungraded here: the totals agree
            assert float(row["total"]) == float(graded[row["student"]]["autograded_score"])


def test_a_flag_quotes_her_text_with_its_control_characters_escaped():
    """A tampering flag quotes her cell's first line: ESC sequences there (a terminal title, a cleared screen, a
    cursor moved up to rewrite another student's row) reach the summary and grades.csv as text, never obeyed. A
    reason without them is kept as it was."""
    from instructor.grading.autograde import TAMPERING_LOG, Run, run_flags

    line = "# \x1b]2;PWNED\x07\x1b[2J\x1b[1A\x1b[31mall passed"
    log = f"[AutogradeApp | WARNING] {TAMPERING_LOG} 01_matmul: tampering: sys._getframe, the cell `{line}`, line 3\n"
    [flag] = run_flags([Run("s07", 0, 1.0, log)])
    assert flag.kind == "tampering" and "\x1b" not in flag.reason and "\x07" not in flag.reason, repr(flag.reason)
    assert "PWNED" in flag.reason and "all passed" in flag.reason  # shown, as escapes: the instructor sees the attempt
    [plain] = run_flags([Run("s08", 0, 1.0, f"{TAMPERING_LOG} 01_matmul: tampering: gc.get_objects, line 2\n")])
    assert plain.reason == "01_matmul: tampering: gc.get_objects, line 2", plain.reason
