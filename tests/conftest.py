"""The test processes fork their checker children from one template each, as a graded class does.

Set FOUNDATIONS_TEST_FRESH=1 to run the suite with every checker child started afresh instead.
"""
from __future__ import annotations

import os

import pytest

from checker.sandbox import template

FRESH_ENV = "FOUNDATIONS_TEST_FRESH"


@pytest.fixture(scope="session", autouse=True)
def checker_template():
    if os.environ.get(FRESH_ENV):
        yield None
        return
    with template.running(say=lambda line: None) as run:
        yield run.template
