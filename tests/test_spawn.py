"""The prestarted sandbox child: taken when it fits, never left behind."""
from __future__ import annotations

import os

from checker.sandbox import spawn
from checker.sandbox.runner import Sandbox
from checker.sandbox.spawn import Limits


def test_a_prestarted_child_is_taken_by_the_first_sandbox_with_its_limits():
    spawn.prestart()
    pid = spawn._warm.proc.pid
    with Sandbox([(0, "x = 41 + 1")]) as box:
        box.load()
        assert box.proc.pid == pid
        assert box.reports[0].ok
    assert spawn._warm is None


def test_a_prestarted_child_with_other_limits_is_killed_and_its_scratch_removed():
    spawn.prestart()
    warm = spawn._warm
    child = spawn.take(Limits(cell_seconds=3.0))
    try:
        assert child.proc.pid != warm.proc.pid
        assert warm.proc.poll() is not None  # killed, not left running
        assert not os.path.exists(warm.jail.scratch)
        assert child.jail.scratch != warm.jail.scratch  # a fresh scratch folder per child
    finally:
        spawn._discard(child)
    assert not os.path.exists(child.jail.scratch)


def test_a_restarted_child_writes_to_the_same_log():
    with Sandbox([(0, "print('first life')")]) as box:
        box.load()
        log = box._log
        box.restart()
        assert box._log is log and box.alive()


def test_the_cli_kills_the_prestarted_child_when_it_checks_nothing(tmp_path, capsys):
    from checker import cli

    path = tmp_path / "01_matmul.py"
    path.write_text("x = 1\n")
    spawn.prestart()
    warm = spawn._warm.proc
    assert cli.main([str(path), "--only", "no_such_exercise"]) == cli.EXIT_UNREADABLE
    assert "no exercise named 'no_such_exercise'" in capsys.readouterr().err
    assert spawn._warm is None and warm.poll() is not None


def test_the_cli_prestarts_only_for_a_file_it_can_check(tmp_path):
    from checker.__main__ import _prestart_for

    (tmp_path / "01_matmul.py").write_text("x = 1\n")
    for argv in (["--help"], [str(tmp_path / "missing.py")], [str(tmp_path)], []):
        _prestart_for(argv)
        assert spawn._warm is None, argv
    _prestart_for([str(tmp_path / "01_matmul.py"), "--json"])
    assert spawn._warm is not None and spawn._warm.proc.poll() is None
    spawn.discard_warm()
