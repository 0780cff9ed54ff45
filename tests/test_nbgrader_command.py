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
    def __init__(self, code: int, log: str):
        self.code, self.log, self.asked = code, log, []

    def run(self, args, seconds):
        self.asked.append(args)
        return self.code, self.log


@pytest.fixture
def autograded(tmp_path):
    for name in ("s1", "s2", "s3", "s4"):
        (tmp_path / "autograde" / name / ag.ASSIGNMENT).mkdir(parents=True)
    return tmp_path


def test_feedback_for_a_group_leaves_the_others_out_and_a_failure_is_reported_for_each(autograded):
    lanes = ScriptedLanes(0, "done")
    assert ag.feedback_for(lanes, autograded, ["s1", "s3"], 60) == {"s1": "", "s3": ""}
    assert lanes.asked == [["generate_feedback", ag.ASSIGNMENT, "--force",
                            "--CourseDirectory.student_id_exclude=s2,s4"]]
    lanes = ScriptedLanes(1, "...\nTemplateNotFound: x")
    failed = ag.FEEDBACK_FAILED.format(code=1, last="TemplateNotFound: x")
    assert ag.feedback_for(lanes, autograded, ["s1", "s3"], 60) == {"s1": failed, "s3": failed}


def test_feedback_for_one_student_names_her(autograded):
    lanes = ScriptedLanes(0, "done")
    assert ag.feedback_for(lanes, autograded, ["s2"], 60) == {"s2": ""}
    assert lanes.asked == [["generate_feedback", ag.ASSIGNMENT, "--student", "s2", "--force"]]
