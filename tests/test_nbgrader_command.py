"""nbgrader's command line made lighter: the same metadata checks, the schema checked once; feedback per student."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from instructor import autograde as ag
from instructor import nbgrader_command


@pytest.fixture
def nbgrader_schema():
    from nbgrader import nbgraderformat
    return json.loads((Path(nbgraderformat.__file__).parent / "v3.json").read_text())


GOOD = {"schema_version": 3, "grade": True, "grade_id": "test_outer", "locked": True, "points": 2, "solution": False}


def test_a_good_cell_passes_and_a_bad_one_fails_with_jsonschema_s_own_error(nbgrader_schema):
    light = nbgrader_command._SchemaOnceJsonschema(jsonschema)
    light.validate(GOOD, nbgrader_schema)
    bad = dict(GOOD, points="two")
    with pytest.raises(jsonschema.ValidationError) as ours:
        light.validate(bad, nbgrader_schema)
    with pytest.raises(jsonschema.ValidationError) as theirs:
        jsonschema.validate(bad, nbgrader_schema)
    assert str(ours.value) == str(theirs.value)


def test_the_schema_is_checked_once_and_a_bad_schema_still_fails(nbgrader_schema, monkeypatch):
    light = nbgrader_command._SchemaOnceJsonschema(jsonschema)
    kind = jsonschema.validators.validator_for(nbgrader_schema)
    checked = []
    original = kind.check_schema
    monkeypatch.setattr(kind, "check_schema", classmethod(lambda cls, schema: (checked.append(1), original(schema))))
    for _ in range(5):
        light.validate(GOOD, nbgrader_schema)
    assert checked == [1]
    with pytest.raises(jsonschema.SchemaError):
        light.validate(GOOD, {"type": "no-such-type"})


def test_nbgrader_s_validator_uses_it_once_prepared():
    from nbgrader.nbgraderformat import common

    nbgrader_command.light_schema_checks()
    nbgrader_command.light_schema_checks()
    assert isinstance(common.jsonschema, nbgrader_command._SchemaOnceJsonschema)
    assert common.jsonschema.ValidationError is jsonschema.ValidationError


class ScriptedLanes:
    def __init__(self, answers: dict[str, tuple[int, str]]):
        self.answers, self.asked = answers, []

    def run(self, args, seconds):
        self.asked.append(args[0])
        return self.answers[args[0]]


def test_feedback_follows_a_graded_student_and_its_failure_is_reported():
    lanes = ScriptedLanes({"autograde": (0, "graded"), "generate_feedback": (1, "...\nTemplateNotFound: x")})
    run = ag._autograde_one(lanes, "s1", [], 60, feedback=True)
    assert lanes.asked == ["autograde", "generate_feedback"]
    assert run.returncode == 0 and run.feedback == ag.FEEDBACK_FAILED.format(code=1, last="TemplateNotFound: x")
    lanes = ScriptedLanes({"autograde": (0, "graded"), "generate_feedback": (0, "done")})
    assert ag._autograde_one(lanes, "s1", [], 60, feedback=True).feedback == ""


def test_no_feedback_for_a_student_who_was_not_graded():
    lanes = ScriptedLanes({"autograde": (1, "boom")})
    run = ag._autograde_one(lanes, "s1", [], 60, feedback=True)
    assert lanes.asked == ["autograde"] and run.returncode == 1 and run.feedback == ""
