"""What the class got wrong (instructor/reports/mistakes.py): synthetic autograded notebooks, written with the very
function that writes the checker's verdicts into nbgrader's test cells, classified and reported."""
from __future__ import annotations

import time

import nbformat
import pytest

from checker import errors
from checker import messages as msg
from checker.results import ERROR, FAILED, NOT_ATTEMPTED, PASSED, ExerciseResult
from instructor.grading import autograde as ag
from instructor.reports import charts
from instructor.grading import classday
from instructor.reports import mistakes as mk
from instructor.reports import mistakes_report as report
from instructor.grading.verdicts import HIDDEN_PREFIX, verdict_outputs

VALUES = msg.VALUE_MISMATCH.format(input="x (3, 4)", index=(1, 2), want=1.5, got=2.5, tol=1e-5)
SHAPE = msg.SHAPE_MISMATCH.format(input="out.g (10, 1)", expected=(1,), got=(10,))
LOOP = msg.OPS_GROW.format(name="matmul_broadcast", dim="the columns of b", count=6, base="(4, 5)", bigger=12,
                           grown="(4, 10)", expected="broadcast a whole row at once")
SLOW = msg.SPEED_FAILED.format(input="a (64, 64)", student="1.2 ms", reference="0.1 ms", yardstick="a @ b",
                               ratio=12.0, bar=3.0)
SCRIPT = "on x: <script>alert('pwned')</script> happened"

# (a feedback line as the checker writes it, the kind an instructor reads)
KNOWN = [
    (msg.HINT_MSE_BROADCAST, "(n,1)-(n,) broadcast"),
    (msg.HINT_BIAS_AXIS.format(shape=(1,)), "wrong axis"),
    (msg.HINT_NORMALIZE_CHANNELS_AXES, "wrong axis"),
    (LOOP, "loop left in"),
    (SLOW, "too slow"),
    (msg.FORBIDDEN_OP.format(input="a (3, 4), b (4, 5)", ops="torch.matmul", why="it is about loops"), "forbidden op"),
    (VALUES, "wrong values"),
    ("w.g " + VALUES, "wrong values"),  # gradients prefix the tensor's name
    (SHAPE, "wrong shape"),
    (msg.NOT_ATTEMPTED_STUB.format(name="relu"), "not attempted"),
    (msg.NOT_ATTEMPTED_MISSING.format(name="relu"), "not attempted"),
    (msg.RAISED_ON_VALID_INPUT.format(input="x", type="RuntimeError", message="size mismatch", where=" (line 3)"),
     "raised an error"),
    (errors.PROBE_TIMEOUT.format(seconds=10.0, what="calling outer on a test input"), "time limit"),
    (msg.OVERALL_LIMIT.format(seconds=300), "time limit"),
    (msg.OUT_OF_MEMORY.format(limit="2.0 GB", what="calling kaiming_init on a test input"), "out of memory"),
    (msg.GRAD_NOT_FRESH.format(input="x", what="w.g"), "accumulated gradient"),
    (msg.GRAD_MISSING.format(input="x", what="w.g"), "gradient not set"),
    (msg.GRAD_STALE.format(input="x", what="w.g", stale=7.0), "gradient stored elsewhere"),
    (msg.STAT_STD.format(name="xavier_init", n_in=100, n_out=50, got=0.14, want=0.1, formula="1/sqrt(n_in)", tol=0.01),
     "wrong standard deviation"),
    (msg.HINT_XAVIER_FAN_OUT, "fan_out instead of fan_in"),
    (msg.HINT_KAIMING_NO_TWO, "Kaiming without the 2"),
    (msg.STAT_NOT_RANDOM.format(name="xavier_init", n_in=100, n_out=50), "same weights every call"),
    (HIDDEN_PREFIX + msg.HINT_RELU_GRAD_MASK, "ReLU gradient not masked"),
    (msg.FRESH_INPUT_WRONG.format(detail=VALUES), "wrong values"),
    (msg.FRESH_INPUT_WRONG.format(detail="something new"), "wrong on fresh inputs"),
    (msg.DEFINING_CELL_STOPPED.format(name="outer", reason=errors.PROBE_TIMEOUT.format(seconds=30, what="x")),
     "time limit"),
    (msg.DEFINING_CELL_FAILED.format(name="outer", where="line 2", error="SyntaxError: invalid syntax"),
     "its cell raised an error"),
]
# Texts the checker shows in a student's kernel or progress line, never in an autograded verdict.
NOT_VERDICT_TEXT = {"STATUS_TEXT", "PROBE_ACTIVITY", "EXERCISE_STOPPED", "NOT_RUN_IN_KERNEL", "RUNNING_CELL",
                    "STILL_WAITING", "TEST_CELL_FAILED", "CHECKER_DID_NOT_RUN", "CONTROL_SHOWN", "UNICODE_CONTROL_SHOWN",
                    "TAMPERING_NOTE", "HINT_PREFIX", "UNREADABLE_MESSAGE", "SEEN_IN_A_TRACED_CALL", "TENSOR_AS_TEXT",
                    "DEFINED_THEN_RAISED", "SANDBOX_PARTIAL", "AFTER_ANOTHER", "AFTER_ANOTHER_CALL",
                    "HIDDEN_CHECK_PREFIX", "HIDDEN_CHECK_WITHHELD", "HIDDEN_CHECK_UNLABELLED", "UNREAD_CODE", "SECOND_STEP", "TENSOR_OF_ITS_OWN_CLASS",
                    "A_TEST_INPUT", "DEMO_CELLS_NOT_RUN", "CELL_DEFINITIONS_ONLY", "REDUCTION_PAIR",
                    "REDUCTION_PAIR_MINMAX", "DEFINED_IN_CELLS"}


def result(name, status=FAILED, feedback=(), score=0.0, points=2.0):
    score = points if status == PASSED else score
    return ExerciseResult(name, status, score, points, list(feedback))


def write_graded(root, student, notebook, results):
    """autograde/<student>/foundations/<notebook>.ipynb with test cells as CheckerVerdicts leaves them."""
    nb = nbformat.v4.new_notebook()
    for r in results:
        solution = nbformat.v4.new_code_cell(f"def {r.name}():\n    pass")
        solution.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": r.name, "locked": False}
        test = nbformat.v4.new_code_cell(f"check('{r.name}')")
        test.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": f"test_{r.name}",
                                     "points": r.max_score, "locked": True}
        test.outputs = verdict_outputs(r)
        nb.cells += [solution, test]
    folder = root / "autograde" / student / "foundations"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{notebook}.ipynb"))


@pytest.fixture
def course(tmp_path):
    """Three students with overlapping mistakes; Relu wrong in both notebooks that have one."""
    write_graded(tmp_path, "s01", "01_matmul", [
        result("matmul_loops", PASSED),
        result("matmul_broadcast", FAILED, [LOOP, SLOW, msg.PARTIAL_CREDIT.format(check="operations, speed")], 1.5, 3),
        result("outer", FAILED, [VALUES, HIDDEN_PREFIX + VALUES])])  # the same kind twice: counts once
    write_graded(tmp_path, "s02", "01_matmul", [
        result("matmul_loops", PASSED),
        result("matmul_broadcast", FAILED, [LOOP, msg.PARTIAL_CREDIT.format(check="operations")], 1.5, 3),
        result("outer", ERROR, [SCRIPT])])
    write_graded(tmp_path, "s02", "03_backprop", [
        result("Relu", FAILED, [VALUES, msg.HINT_RELU_GRAD_MASK]),
        result("Lin", FAILED, [SHAPE, msg.HINT_BIAS_AXIS.format(shape=(1,))])])
    write_graded(tmp_path, "s03", "04_modules", [
        result("Relu", FAILED, [msg.NOT_SUBCLASS.format(name="Relu", base="Module")]),
        result("Mse", FAILED, [VALUES]),
        result("Lin", NOT_ATTEMPTED, [msg.NOT_ATTEMPTED_STUB.format(name="Lin")])])
    return tmp_path


@pytest.mark.parametrize("line, kind", KNOWN, ids=[k for _, k in KNOWN])
def test_feedback_lines_get_the_kind_of_their_message(line, kind):
    assert mk.classify(line) == kind


def test_unknown_lines_are_other_and_notes_are_no_mistake():
    assert mk.classify("the moon is made of cheese") == mk.OTHER
    assert mk.classify(SCRIPT) == mk.OTHER
    assert mk.classify(msg.PARTIAL_CREDIT.format(check="speed")) is None
    assert mk.classify(msg.HINT_MSE_BROADCAST + " and more") == mk.OTHER  # the text after the last field is anchored


def test_every_verdict_message_of_the_checker_has_a_kind():
    """A message added to checker/messages.py must be declared with the mistake it names
    (``mistake("wrong axis", "hint: ...")``), or be listed as a note in instructor/reports/mistakes.py."""
    known = {t for _, ts in mk.KINDS for t in ts} | {t for _, t in mk.WRAPPERS} | set(mk.IGNORED)
    missing = [name for name, value in vars(msg).items()
               if name.isupper() and isinstance(value, str) and value not in known and name not in NOT_VERDICT_TEXT]
    assert missing == []


def test_every_message_knows_its_name_wherever_it_is_declared():
    """A message declared anywhere in checker/messages.py (05_training's were added after the line that names
    them, and went into the verdicts' metadata without a kind) is a Message of its own name, so the reports
    read its kind, never its text."""
    unnamed = [name for name, value in vars(msg).items() if name.isupper() and type(value) is str]
    assert unnamed == []
    assert msg.kind_of(msg.HINT_SUBTRACT_MAX) == "HINT_SUBTRACT_MAX"
    line = msg.STEP_WRONG.format(input="a model", detail="parameter 0 differs")
    assert msg.kind_of(line) == "STEP_WRONG" and mk.classify(line) == "wrong step"
    assert mk.classify(msg.Feedback("reworded by a later edit", "HINT_CE_ONE_HOT")) == "one-hot not subtracted"


def test_a_message_split_over_lines_stays_one_mistake():
    raised = msg.RAISED_ON_VALID_INPUT.format(input="x", type="ValueError", message="first\nsecond", where="")
    assert mk.classify_lines(raised.split("\n")) == [("raised an error", raised)]
    assert [k for k, _ in mk.classify_lines([msg.HINT_MSE_BROADCAST, "stray text"])] == ["(n,1)-(n,) broadcast",
                                                                                       mk.OTHER]


def test_a_hostile_line_is_classified_quickly():
    started = time.monotonic()
    for line in ("on : values differ; " * 250, "(" * 5000, ": expected , got (tolerance " * 170):
        assert mk.classify(line) == mk.OTHER
    assert time.monotonic() - started < 0.5


def test_verdicts_are_read_back_from_the_autograded_notebooks(course):
    verdicts, missing = mk.read_class(course / "autograde")
    got = {(v.student, v.notebook, v.exercise): (v.status, v.score, v.max_score) for v in verdicts}
    assert got[("s01", "01_matmul", "matmul_broadcast")] == ("failed", 1.5, 3.0)
    assert got[("s01", "01_matmul", "matmul_loops")] == ("passed", 2.0, 2.0)
    assert got[("s03", "04_modules", "Lin")] == ("not_attempted", 0.0, 2.0)  # the status as data, not as shown
    assert len(verdicts) == 11
    assert missing["01_matmul"] == ["s03"] and missing["02_forward"] == ["s01", "s02", "s03"]


def test_a_student_counts_once_per_kind_per_exercise(course):
    found = mk.collect(course)
    assert found.kinds[("01_matmul", "outer")]["wrong values"] == {"s01"}
    assert found.kinds[("01_matmul", "matmul_broadcast")]["loop left in"] == {"s01", "s02"}
    assert found.kinds[("01_matmul", "matmul_broadcast")]["too slow"] == {"s01"}
    assert "matmul_loops" not in {ex for _, ex in found.kinds}  # passed by everyone
    assert [(s, nb, ex) for s, nb, ex, _ in found.other] == [("s02", "01_matmul", "outer")]
    top = found.top(3)
    assert top[0] == ("wrong values", 3, [("01_matmul/outer", 1), ("03_backprop/Relu", 1), ("04_modules/Mse", 1)])
    assert ("loop left in", 2, [("01_matmul/matmul_broadcast", 2)]) in top
    assert found.count(mk.NOT_ATTEMPTED) == 1 and all(kind != mk.NOT_ATTEMPTED for kind, _, _ in found.top(99))


def test_exercises_are_labelled_with_their_notebook(course):
    found = mk.collect(course)
    assert dict(found.kinds[("03_backprop", "Relu")]) == {"wrong values": {"s02"}, "ReLU gradient not masked": {"s02"}}
    assert dict(found.kinds[("04_modules", "Relu")]) == {"not a subclass": {"s03"}}
    assert mk.short_label("03_backprop", "Relu") == "03 Relu" != mk.short_label("04_modules", "Relu")
    assert charts.exercise_tick("04_modules:Relu") == "04 Relu"
    page = report.page(found)
    assert "03_backprop/Relu" in page and "04_modules/Relu" in page


def test_html_escapes_what_students_wrote(course):
    write_graded(course, "s<img src=x onerror=alert(1)>", "02_forward", [result("relu", FAILED, [SCRIPT])])
    page = report.page(mk.collect(course))
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "s&lt;img src=x onerror=alert(1)&gt;" in page


def test_control_characters_students_wrote_are_shown_not_kept(course):
    line = msg.RAISED_ON_VALID_INPUT.format(input="x", type="ValueError", message="\x1b[2J\x1b[32mpassed", where="")
    write_graded(course, "s1", "02_forward", [result("relu", FAILED, [line])])
    page = report.page(mk.collect(course))
    assert "\x1b" not in page and "\\x1b[2J\\x1b[32mpassed" in page, page


def test_the_report_shows_scores_per_notebook(course):
    found = mk.collect(course)
    dist = {d.notebook: d for d in mk.distributions(found.verdicts)}
    assert dist["01_matmul"].scores == [3.5, 3.5] and dist["01_matmul"].max_score == 21
    assert dict(dist["01_matmul"].bands())["0–19%"] == 2
    assert dist["03_backprop"].quartiles() == (0.0,) * 5
    page = report.page(found)
    for heading in ("Most frequent mistakes", "Scores per notebook", "Per exercise", "(other)"):
        assert heading in page


def test_the_summary_lists_the_top_mistakes_and_the_report(course, monkeypatch):
    monkeypatch.setattr(ag, "pass_rates", lambda root: {"01_matmul:outer": 0.0, "03_backprop:Relu": 0.5})
    table = [{"student": s, "status": "graded", "autograded_score": "3.5", "flags": "", "confinement": ""}
             for s in ("s01", "s02", "s03")]
    text = classday.summary(course, table, 60.0, 3, classday.write_reports(course, table))
    lines = text.splitlines()
    start = lines.index(report.TEXT_TITLE)
    assert lines[start + 1].split() == ["3", "wrong", "values", "01_matmul/outer", "1,", "03_backprop/Relu", "1,",
                                        "04_modules/Mse", "1"]
    assert any("loop left in" in line and "01_matmul/matmul_broadcast 2" in line for line in lines[start:start + 6])
    assert f"mistakes per exercise and score distributions: {course / 'mistakes.html'}" in text
    assert "&lt;script&gt;" in (course / "mistakes.html").read_text()
    assert (course / "grades.png").stat().st_size > 0


def test_a_class_that_passes_everything_made_no_mistakes(tmp_path):
    for student in ("s01", "s02"):
        write_graded(tmp_path, student, "01_matmul", [result("matmul_loops", PASSED), result("outer", PASSED)])
    found = mk.collect(tmp_path)
    assert len(found.verdicts) == 4 and found.kinds == {} and found.other == [] and found.top() == []
    lines = report.summary_lines(found, tmp_path / "mistakes.html")
    assert lines[0] == report.TEXT_NONE
    assert "No mistakes" in report.page(found)


def test_no_autograded_notebooks_says_so(tmp_path):
    found = mk.collect(tmp_path)
    assert report.summary_lines(found, tmp_path / "mistakes.html", tmp_path / "autograde") == [
        report.TEXT_NO_VERDICTS.format(folder=tmp_path / "autograde")]


def test_a_verdict_is_read_from_its_data_not_its_text(tmp_path):
    """The test cell's output keeps the verdict as data: reports read the kinds, whatever the text says."""
    from checker.results import ExerciseResult
    from instructor.grading.verdicts import verdict_outputs

    line = msg.VALUE_MISMATCH.format(input="x (2, 3)", index=(0, 1), want=1.0, got=2.0, diff=1.0, tol=0.1) \
        if "{want" in msg.VALUE_MISMATCH else msg.NOT_A_TENSOR.format(input="x", type="int", repr="1")
    result = ExerciseResult("outer", "failed", 0.0, 2.0, [line])
    cell = {"outputs": [dict(o) for o in verdict_outputs(result)]}
    cell["outputs"][0]["data"] = {"text/plain": "outer: failed (0/2)\nthis text says nothing a regex knows"}
    status, score, top, feedback = mk.cell_verdict(cell)
    assert (status, score, top) == ("failed", 0.0, 2.0)
    assert msg.kind_of(feedback[0]) == msg.kind_of(line) and mk.classify(feedback[0]) == mk.classify(line) != mk.OTHER
    # the other way: the same text without its data is matched by its text, and a stray line is "other"
    assert mk.classify(str(line)) == mk.classify(line) and mk.classify("stray text") == mk.OTHER


def test_every_line_the_wrong_answers_get_knows_its_message():
    """Feedback is data from where it is made: every line a check writes is a message of known kind."""
    from checker.grading import grade
    from instructor.authoring.wrong_answers import WRONG
    from tests.helpers import submission
    import tempfile
    from pathlib import Path

    chosen = [w for w in WRONG if w.notebook == "03_backprop"][:6]
    with tempfile.TemporaryDirectory() as tmp:
        for i, wrong in enumerate(chosen):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            result = grade(submission(folder, wrong.notebook, replace=dict(wrong.replace)), only=[wrong.exercise])
            kinds = [msg.kind_of(line) for line in result.exercises[0].feedback]
            assert None not in kinds, (wrong.id, result.exercises[0].feedback, kinds)


def test_a_verdict_s_text_in_the_autograded_notebook_shows_her_control_characters_escaped():
    """Attack round 22: an exception message of ESC sequences and line breaks drew a fake "passed" row under the
    real verdict in the autograded notebook's error output (the formgrader shows it). The text is escaped as the
    CLI's is; the verdict's data keeps the line as it was."""
    from checker.results import ExerciseResult
    from instructor.grading.verdicts import verdict_outputs

    forged = "\x1b[2K\r\n     ok  matmul_loops     passed             2/2\x1b[8m"
    line = msg.RAISED_ON_VALID_INPUT.format(input="a (5, 4)", type="ValueError", message=forged, where="")
    outputs = verdict_outputs(ExerciseResult("matmul_loops", "failed", 0.0, 2.0, [line]))
    shown = [outputs[0]["data"]["text/plain"], outputs[-1]["evalue"], *outputs[-1]["traceback"]]
    assert all("\x1b" not in text and "\r" not in text for text in shown), shown
    assert all("\\x1b" in text for text in shown), shown
    assert outputs[-1]["evalue"].count("\n") == 0, outputs[-1]["evalue"]
