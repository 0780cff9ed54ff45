"""The hidden checks' inputs stay in the grader: what a student's code returns, raises or prints on them never
reaches her feedback, however she encodes them (an exception's arguments, a wrong value, a string returned).

Autograde's verdicts are judged as ``instructor.grading.verdicts.judge_notebook`` judges them, with a hidden seed.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from checker import messages as msg
from checker.results import FAILED, PASSED
from instructor.grading.verdicts import judge_notebook, withheld
from tests.helpers import matches, submission

HIDDEN_SEED = 4242
# the shapes of outer's visible inputs: a function that leaks only off them passes the visible checks
VISIBLE = "{(3, 4), (1, 5), (4, 1), (5, 5), (6, 5), (12, 5), (6, 10), (3, 6), (3, 2)}"
HONEST = "    return u[:, None] * v[None, :]"
LEAKS = {
    "exception-arguments": "        raise ValueError('LEAK', u, v)",
    "exception-text": "        raise ValueError('LEAK ' + ' '.join(f'{x:.6f}' for x in u.tolist()))",
    "wrong-value": "        return u[:, None] * 0 + u[None, :1] * 1e6",
    "not-a-tensor": "        return 'LEAK ' + str(u.tolist())",
    "exception-class-name": "        raise type('LEAK_' + str(int(u[0] * 1e6)).replace('-', 'm'), (Exception,), {})()",
}


def _outer(leak: str) -> str:
    return (f"def outer(u, v):\n    if (u.shape[0], v.shape[0]) not in {VISIBLE}:\n{leak}\n{HONEST}")


def _judged(tmp_path, source: str):
    path = submission(tmp_path, "01_matmul", replace={"outer": source}, suffix=".ipynb")
    return judge_notebook(nbformat.read(path, as_version=4), "01_matmul", HIDDEN_SEED).verdicts["outer"]


@pytest.mark.parametrize("id", sorted(LEAKS))
def test_what_her_code_does_on_a_hidden_input_is_not_shown(tmp_path, id):
    verdict = _judged(tmp_path, _outer(LEAKS[id]))
    assert (verdict.status, verdict.score) != (PASSED, verdict.max_score), "the visible checks did not pass: " \
        "outer's visible shapes changed (update VISIBLE)" if verdict.status == PASSED else verdict.feedback
    text = "\n".join(verdict.feedback)
    assert all(line.startswith(msg.HIDDEN_CHECK_PREFIX) for line in verdict.feedback), verdict.feedback
    assert matches(msg.HIDDEN_CHECK_WITHHELD, verdict.feedback), verdict.feedback
    assert "LEAK" not in text and not re.search(r"\d\.\d{3}", text), text  # no name of hers, no input's value
    # each line still says which mistake it was (an error raised in a traced call too), and keeps its kind
    assert msg.HIDDEN_CHECK_UNLABELLED + ":" not in text and all(msg.kind_of(line) for line in verdict.feedback), \
        [(line, msg.kind_of(line)) for line in verdict.feedback]


def test_an_honest_answer_passes_the_hidden_checks_and_a_wrong_one_is_told_its_mistake_and_shapes(tmp_path):
    assert _judged(tmp_path, _outer("        pass")).status == PASSED
    verdict = _judged(tmp_path, _outer("        return u[:, None] * v[None, :] + 1"))
    assert verdict.status == FAILED and verdict.score == 0, verdict.feedback
    line = verdict.feedback[0]
    assert line.startswith(msg.HIDDEN_CHECK_PREFIX + msg.VALUE_MISMATCH.mistake + " on u (") and "float" in line, line
    assert msg.kind_of(line) == "VALUE_MISMATCH", msg.kind_of(line)  # the mistakes report files it where it was


def test_a_fixed_text_is_shown_as_it_is_and_a_text_with_fields_is_withheld():
    assert withheld(msg.SANDBOX_PARTIAL.format()) == msg.SANDBOX_PARTIAL  # a text of the checker's alone
    line = msg.VALUE_MISMATCH.format(input="x (2, 3) float32 (random)", index=(0, 1), want="1.5", got="2.5", tol=1e-5)
    shown = withheld(line)
    assert shown.startswith("wrong values on x (2, 3) float32 (random): ") and "1.5" not in shown, shown
    again = msg.SAME_ERROR_AGAIN.format(count=3)  # its field is the grader's: shown as it is
    assert withheld(again) == again
    raised = msg.RAISED_ON_VALID_INPUT.format(input="x (2, 3)", type="ValueError", message="tensor([0.123])", where="")
    assert "0.123" not in withheld(raised) and "ValueError" not in withheld(raised), withheld(raised)


def test_each_student_s_hidden_inputs_are_her_own_and_the_same_on_a_regrade(monkeypatch):
    """The course's seed keys an HMAC of assignment, student and notebook: a regrade meets the same inputs, another
    student (or notebook) other ones, and no student's seed is the course's."""
    from instructor.grading.verdicts import HIDDEN_SEED_ENV, hidden_seed_from

    monkeypatch.delenv(HIDDEN_SEED_ENV, raising=False)

    def seed(student, notebook="01_matmul", course_seed=HIDDEN_SEED):
        where = {"nbgrader": {"assignment": "foundations", "student": student, "notebook": notebook}}
        return hidden_seed_from(course_seed, where)

    assert seed("ana") == seed("ana")
    assert len({seed("ana"), seed("ben"), seed("ana", "02_forward"), seed("ana", course_seed=4243)}) == 4
    assert HIDDEN_SEED not in {seed("ana"), seed("ben")} and 0 <= seed("ana") < 2**31
    assert hidden_seed_from(HIDDEN_SEED) == HIDDEN_SEED  # no student named (a notebook judged alone)
    assert hidden_seed_from(None, {"nbgrader": {"student": "ana"}}) is None  # no hidden checks configured
    before = seed("ana")
    monkeypatch.setenv(HIDDEN_SEED_ENV, "99")  # the environment's seed overrides the config's, drawn apart too
    assert seed("ana") == seed("ana", course_seed=None) not in (before, 99)


@pytest.fixture(params=["smallest", "largest"])
def extreme_sizes(request, monkeypatch):
    """Every size the hidden checks draw at the end of its range (1 where a case allows it, 9 or its highest)."""
    from checker.exercises import backprop, cases, forward, training

    def pick(seed, default, low=1, high=9):
        if seed == cases.VISIBLE_SEED:
            return default
        return tuple([low if request.param == "smallest" else high] * len(default))

    for module in (cases, backprop, forward, training):
        monkeypatch.setattr(module, "pick", pick)
    return request.param


@pytest.mark.parametrize("notebook", ["01_matmul", "02_forward", "03_backprop", "04_modules", "05_training"])
def test_the_reference_passes_the_hidden_checks_at_the_ends_of_their_size_ranges(tmp_path, notebook, extreme_sizes):
    """A student's hidden seed may draw any size in a check's range: the reference passes at both ends of every
    range. (batch_matmul's inner dimension drawn as 1 had failed the reference: an einsum over k = 1 sums nothing,
    and the required-op rule found it doing none of the work.)"""
    from checker.grading import GradingSession, Options
    from checker.registry import Exercise, entries
    from checker.submission import read_submission

    path = submission(tmp_path, notebook)
    with GradingSession(read_submission(path, notebook), Options()) as session:
        failed = [(e.name, r.feedback) for e in entries(notebook) if isinstance(e, Exercise)
                  for r in [session.result(e, hidden_seed=HIDDEN_SEED)] if r.status != PASSED]
    assert failed == [], failed
