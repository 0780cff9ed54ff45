"""``pytest --submission PATH``: the checker's checks as pytest tests.

One test per check of every exercise, marked with the exercise's name
(``-m matmul_broadcast``); ``-k`` works on ``exercise::check`` ids. A failed check
shows the checker's feedback, not a traceback; an exercise not attempted fails with "not attempted"
(as the CLI exits 1 for it), rather than being skipped as if nothing were asked.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from checker.errors import CheckerError
from checker.grading import GradingSession, Options
from checker.registry import Exercise, all_entries, entries
from checker.results import ERROR, NOT_ATTEMPTED
from checker.submission import read_submission

SUBMISSION_HELP = "a student's .ipynb or .py file: run the checker's checks on it as tests"
NOTEBOOK_HELP = "which lesson notebook the submission answers (default: its file name)"
SESSION_KEY = pytest.StashKey["GradingSession"]()


def pytest_addoption(parser):
    group = parser.getgroup("foundations-checker")
    group.addoption("--submission", metavar="PATH", help=SUBMISSION_HELP)
    group.addoption("--notebook", metavar="NAME", help=NOTEBOOK_HELP)


def pytest_configure(config):
    for name in sorted({e.name for e in all_entries() if isinstance(e, Exercise)}):
        config.addinivalue_line("markers", f"{name}: the checks of the exercise {name}")


class CheckFailed(Exception):
    def __init__(self, lines):
        super().__init__("\n".join(lines))
        self.lines = lines


class CheckItem(pytest.Item):
    def __init__(self, *, exercise: Exercise, check_name: str, **kwargs):
        super().__init__(**kwargs)
        self.exercise = exercise
        self.check_name = check_name
        self.add_marker(exercise.name)

    def runtest(self):
        session: GradingSession = self.config.stash[SESSION_KEY]
        result = session.result(self.exercise)
        if result.status in (NOT_ATTEMPTED, ERROR):  # not attempted is not a pass: it fails, and says so
            raise CheckFailed(result.feedback)
        outcome = next((o for o in result.outcomes if o.check == self.check_name), None)
        if outcome is None:
            raise CheckFailed(result.feedback or [f"{self.check_name} did not run"])
        if not outcome.passed:
            raise CheckFailed(outcome.feedback)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CheckFailed):
            return "\n".join(f"{self.exercise.name} [{self.check_name}]: {line}" for line in excinfo.value.lines)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.exercise.name}::{self.check_name}"


class SubmissionFile(pytest.File):
    def collect(self):
        submission = self.config.stash[SESSION_KEY].submission
        for entry in entries(submission.notebook):
            if not isinstance(entry, Exercise):
                continue
            for check in entry.checks:
                yield CheckItem.from_parent(self, name=f"{entry.name}::{check.name}", exercise=entry,
                                            check_name=check.name)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    path = config.getoption("submission")
    if not path:
        return
    try:
        submission = read_submission(path, config.getoption("notebook"))
    except CheckerError as exc:
        raise pytest.UsageError(str(exc)) from None
    grading = GradingSession(submission, Options())
    config.stash[SESSION_KEY] = grading
    config.add_cleanup(grading.close)
    collector = SubmissionFile.from_parent(session, path=Path(path).resolve())
    report = collector.ihook.pytest_make_collect_report(collector=collector)
    session.ihook.pytest_collectreport(report=report)  # so that "collected N items" counts them
    if report.failed:
        raise pytest.UsageError(str(report.longrepr))
    items.extend(report.result)
