"""The pre-imported nbgrader host: a fork per command, killed on time, and a fresh process where it is gone."""
from __future__ import annotations

import os
import time

import pytest

from instructor.grading import nbgrader_host
from instructor import tool_env
from instructor.authoring.notebooks import ROOT


@pytest.fixture
def lanes_said():
    said: list[str] = []
    with nbgrader_host.Lanes(ROOT, tool_env(), 1, said.append) as lanes:
        yield lanes, said


def test_a_forked_nbgrader_answers_as_a_fresh_process_would(lanes_said):
    lanes, said = lanes_said
    forked = lanes.run(["--version"], 60)
    fresh = nbgrader_host._fresh(["--version"], 60, ROOT, tool_env())
    assert forked == fresh
    assert forked[0] == 0 and forked[1].strip()
    assert len(said) == 1 and said[0].startswith("nbgrader: one pre-imported process per lane (1)")


def test_a_failing_command_fails_with_nbgrader_s_own_error_and_code(tmp_path):
    with nbgrader_host.Lanes(tmp_path, tool_env(), 1, lambda line: None) as lanes:
        code, log = lanes.run(["autograde", "no_such_assignment"], 60)
    assert (code, log) == nbgrader_host._fresh(["autograde", "no_such_assignment"], 60, tmp_path, tool_env())
    assert code == 1 and "No notebooks were matched by" in log


def test_one_host_serves_every_command_of_its_lane(lanes_said):
    lanes, _ = lanes_said
    host = lanes.free.queue[0]
    for _ in range(3):
        assert lanes.run(["--version"], 60)[0] == 0
    assert list(lanes.free.queue) == [host] and host.proc.poll() is None


def test_a_command_past_its_time_has_its_session_killed():
    pid = os.fork()
    if pid == 0:
        os.setsid()
        time.sleep(60)
        os._exit(0)
    started = time.monotonic()
    assert nbgrader_host._wait(pid, 0.5) is None
    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_command_in_time_gives_its_exit_code():
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os._exit(3)
    assert nbgrader_host._wait(pid, 10) == 3


def test_a_dead_host_costs_nothing_but_time_and_is_said_once(lanes_said):
    lanes, said = lanes_said
    lanes.free.queue[0].proc.kill()
    lanes.free.queue[0].proc.wait()
    first = lanes.run(["--version"], 60)
    second = lanes.run(["--version"], 60)
    assert first == second and first[0] == 0
    failed = [line for line in said if line.startswith("nbgrader host:")]
    assert len(failed) == 1 and failed[0].endswith(
        "starting nbgrader afresh for each student (the same results, slower)")


def test_a_host_that_cannot_start_is_said_once_and_grading_goes_on():
    said: list[str] = []
    env = {**tool_env(), "PYTHONPATH": "/nonexistent"}  # `instructor` cannot be imported: the host fails
    with nbgrader_host.Lanes("/", env, 2, said.append) as lanes:
        assert list(lanes.free.queue) == [None, None]
    assert len(said) == 1 and said[0].startswith("nbgrader host: it exited (code 1) before it was ready")
