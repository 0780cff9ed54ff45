"""Every check both ways: the reference passes every exercise; realistic wrong answers fail
with the messages a student should read."""
from __future__ import annotations

import pytest

from checker.grading import grade
from checker.registry import NOTEBOOKS, Exercise, entries
from tests.helpers import matches, submission
from instructor.authoring.wrong_answers import WRONG, groups

GROUPS = groups()


@pytest.fixture(scope="session")
def reference_results(tmp_path_factory):
    out = {}
    for notebook in NOTEBOOKS:
        path = submission(tmp_path_factory.mktemp(notebook), notebook)
        out[notebook] = grade(path)
    return out


@pytest.fixture(scope="session")
def wrong_results(tmp_path_factory):
    cache = {}

    def result_for(index):
        if index not in cache:
            group = GROUPS[index]
            replace = {k: v for wrong in group for k, v in wrong.replace.items()}
            path = submission(tmp_path_factory.mktemp(f"wrong{index}"), group[0].notebook, replace=replace)
            cache[index] = grade(path, only=sorted({w.exercise for w in group}))
        return cache[index]

    return result_for


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_reference_passes_every_exercise(notebook, reference_results):
    result = reference_results[notebook]
    for e in result.exercises:
        if e.status == "manual":
            continue
        assert e.status == "passed", (e.name, e.feedback)
        assert e.score == e.max_score
    autograded = [e for e in entries(notebook) if isinstance(e, Exercise)]
    assert {e.name for e in result.exercises if e.status == "passed"} == {e.name for e in autograded}


def _index(wrong):
    return next(i for i, g in enumerate(GROUPS) if wrong in g)


@pytest.mark.parametrize("wrong", WRONG, ids=[f"{w.notebook}-{w.exercise}-{w.id}" for w in WRONG])
def test_wrong_answer_fails_with_message(wrong, wrong_results):
    result = wrong_results(_index(wrong))
    exercise = next(e for e in result.exercises if e.name == wrong.exercise)
    assert exercise.status == wrong.status, exercise.feedback
    for template in wrong.expected:
        assert matches(template, exercise.feedback), (template, exercise.feedback)
    if wrong.score is not None:
        assert exercise.score == wrong.score, exercise.feedback


def test_every_check_kind_is_failed_by_some_wrong_answer():
    """No check module goes untested: each kind of check is failed by at least one wrong answer."""
    from checker import messages as msg
    used = {t for w in WRONG for t in w.expected}
    for template in (msg.FORBIDDEN_OP, msg.OPS_GROW, msg.SPEED_FAILED, msg.LARGEST_ALLOCATION, msg.FULL_SIZE_COPIES,
                     msg.STAT_STD, msg.STAT_NOT_RANDOM, msg.STAT_NOT_SEEDED, msg.GRAD_NOT_FRESH, msg.GRADCHECK_FAILED,
                     msg.DID_NOT_RAISE, msg.INPUT_MODIFIED, msg.NEGATIVE_RESULT, msg.PARAMETERS_WRONG,
                     msg.MODULES_WRONG, msg.BASE_FORWARD, msg.SUBCLASS_BROKEN, msg.NOT_SUBCLASS, msg.LOOPS_MISSING, msg.LOOPS_VECTORISED,
                     msg.REQUIRED_OP_IDLE, msg.REQUIRED_OP_PARTIAL):
        assert template in used, template


def test_every_speed_bar_has_the_slower_algorithm_it_is_there_to_fail():
    """Each exercise with a speed bar has a wrong answer that fails it (bench section (c) measures the margins
    against it): a bar without one is a bar nobody showed to be needed."""
    from checker import messages as msg
    from checker.checks.speed import SpeedBar
    from checker.registry import Exercise, all_entries

    timed = {(e.notebook, e.name) for e in all_entries() if isinstance(e, Exercise)
             and any(isinstance(c, SpeedBar) for c in e.checks)}
    slower = {(w.notebook, w.exercise) for w in WRONG if msg.SPEED_FAILED in w.expected}
    assert timed and timed <= slower, timed - slower
