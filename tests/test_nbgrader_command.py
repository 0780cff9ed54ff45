"""nbgrader's command line made lighter: the same metadata checks, the schema checked once; feedback per student."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from instructor.grading import autograde as ag
from instructor.grading import nbgrader_command


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


def test_the_class_loop_writes_feedback_in_groups_as_students_are_graded_and_says_so(tmp_path, monkeypatch):
    from instructor.grading import nbgrader_host

    names = [f"s{i:02d}" for i in range(10)]
    for name in names:
        (tmp_path / "submitted" / name / ag.ASSIGNMENT).mkdir(parents=True)
    asked: list[list[str]] = []

    class FakeLanes(ScriptedLanes):
        def __init__(self, *args):
            super().__init__(0, "ok")
            self.asked = asked

        def run(self, args, seconds):
            if args[0] == "autograde":
                (tmp_path / "autograde" / args[3] / ag.ASSIGNMENT).mkdir(parents=True, exist_ok=True)
            code = 1 if args[0] == "autograde" and args[3] == "s09" else 0
            asked.append(args)
            return code, "boom" if code else "ok"

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(nbgrader_host, "Lanes", FakeLanes)
    groups: list[int] = []
    real_feedback_for = ag.feedback_for
    monkeypatch.setattr(ag, "feedback_for", lambda lanes, root, chunk, seconds: (
        groups.append(len(chunk)), real_feedback_for(lanes, root, chunk, seconds))[1])
    lines: list[str] = []
    runs = ag.autograde(tmp_path, jobs=2, progress=lines.append, feedback=True)
    assert [r.student for r in runs] == names and [r.returncode for r in runs] == [0] * 9 + [1]
    assert len([a for a in asked if a[0] == "generate_feedback"]) == 2
    assert sorted(groups) == [1, 8]  # nine graded students: a group of eight, then the last one alone
    assert lines[-1] == ag.FEEDBACK_PROGRESS.format(done=9, graded=10, total=10)
    assert sum(line.startswith("feedback written for") for line in lines) == 2
    assert sum("students/min" in line for line in lines) == 10


def test_the_course_config_loads_without_torch_and_names_preprocessors_that_import():
    """A release or a feedback run reads nbgrader_config.py too: it must not pay for the checker's torch."""
    import subprocess
    import sys

    from instructor.authoring.notebooks import ROOT

    probe = ("import sys\n"
             "from traitlets.config.loader import PyFileConfigLoader\n"
             f"config = PyFileConfigLoader('nbgrader_config.py', path={str(ROOT)!r}).load_config()\n"
             "print('torch' in sys.modules)\n"
             "from traitlets.utils.importstring import import_item\n"
             "print([import_item(name).__name__ for name in config.Autograde.autograde_preprocessors])\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded_torch, names = out.stdout.splitlines()
    assert loaded_torch == "False"
    assert names == str(["ResilientExecute", "IgnorePattern", "ClearMetadataPreprocessor", "LimitOutput",
                         "CheckerVerdicts", "SaveAutoGrades", "AssignLatePenalties", "CheckCellMetadata"])


@pytest.fixture
def nbgrader_s_alembic_head(monkeypatch):
    """nbgrader's own ``get_alembic_version`` (which runs ``alembic heads``) in place, restored afterwards."""
    from nbgrader import api

    own = nbgrader_command._NBGRADER_S_ALEMBIC_HEAD or api.get_alembic_version
    monkeypatch.setattr(api, "get_alembic_version", own)
    monkeypatch.setattr(nbgrader_command, "_NBGRADER_S_ALEMBIC_HEAD", None)
    return own


def test_a_new_gradebook_is_stamped_with_nbgrader_s_revision_without_the_alembic_command(
        nbgrader_s_alembic_head, tmp_path, monkeypatch):
    import os
    import sys

    from nbgrader import api
    from sqlalchemy import text

    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    theirs = nbgrader_s_alembic_head()  # nbgrader's way: a new `alembic heads` process
    monkeypatch.setenv("PATH", str(tmp_path))  # from here on there is no alembic command to run
    with pytest.raises(FileNotFoundError):
        nbgrader_s_alembic_head()
    nbgrader_command.known_alembic_head()
    nbgrader_command.known_alembic_head()  # twice is once: nbgrader's own function is still the fallback
    assert nbgrader_command._NBGRADER_S_ALEMBIC_HEAD is nbgrader_s_alembic_head
    with api.Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        stamped = gb.db.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert stamped == [theirs]


def test_other_than_one_head_is_left_to_nbgrader_s_own_way(nbgrader_s_alembic_head, monkeypatch):
    from alembic.script import ScriptDirectory

    nbgrader_command.known_alembic_head()
    monkeypatch.setattr(nbgrader_command, "_NBGRADER_S_ALEMBIC_HEAD", lambda: "nbgrader's answer")
    monkeypatch.setattr(ScriptDirectory, "get_heads", lambda self: ("a1", "b2"))
    assert nbgrader_command.alembic_head() == "nbgrader's answer"


def test_on_an_untested_nbgrader_its_own_behaviour_is_kept_and_said_once(monkeypatch, capsys):
    """The other way of every replacement: a version it was not tested with keeps the package's own code."""
    from nbgrader import api
    from nbgrader.nbgraderformat import common

    from instructor.grading import nbgrader_command
    from instructor.grading import patches

    monkeypatch.setattr(patches, "version_of", lambda package: "0.10.0")
    monkeypatch.setattr(patches, "_said", set())
    before_schema, before_head = common.jsonschema, api.get_alembic_version
    monkeypatch.setattr(common, "jsonschema", __import__("jsonschema"))
    monkeypatch.setattr(api, "get_alembic_version", before_head)
    nbgrader_command.light_schema_checks()
    nbgrader_command.known_alembic_head()
    assert common.jsonschema is __import__("jsonschema") and api.get_alembic_version is before_head
    err = capsys.readouterr().err
    assert err.count("nbgrader 0.10.0 is not a version") == 1, err
    monkeypatch.setattr(patches, "version_of", lambda package: "0.9.6")
    assert patches.tested("nbgrader", "x") is True
