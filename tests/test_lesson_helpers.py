"""checker.lesson: the helpers of the notebooks' demonstrations."""
from __future__ import annotations

import time

import pytest

from checker.lesson import seconds_text, speed_table, timed, when_ready


def stub(*args):
    raise NotImplementedError()


def test_when_ready_returns_what_the_demo_returns(capsys):
    assert when_ready(lambda: 42, "matmul_loops") == 42
    assert capsys.readouterr().out == ""


def test_when_ready_turns_a_stub_into_a_note(capsys):
    assert when_ready(lambda: stub(1, 2), "matmul_loops") is None
    assert capsys.readouterr().out.strip() == "(this demo runs once you have written matmul_loops)"


def test_when_ready_names_every_exercise_the_demo_needs(capsys):
    when_ready(stub, "lin", "relu", "mse")
    assert "written lin, relu and mse)" in capsys.readouterr().out
    when_ready(stub)
    assert "the exercises above" in capsys.readouterr().out


def test_when_ready_shows_a_message_that_is_not_a_bare_stub(capsys):
    def base_forward():
        raise NotImplementedError("subclasses define forward")

    when_ready(base_forward, "Module")
    out = capsys.readouterr().out
    assert "written Module" in out and "subclasses define forward" in out


def test_when_ready_shows_a_real_error_in_a_few_lines_and_goes_on(capsys):
    """A wrong exercise under a demo: the error and the student's own line, no frame of the kit, no raise."""
    import linecache

    source, name = "def matmul_loops(a, b):\n    return a + b\n", "/tmp/ipykernel_1/123.py"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)  # as IPython registers a cell
    namespace = {}
    exec(compile(source, name, "exec"), namespace)

    assert when_ready(lambda: namespace["matmul_loops"]((1, 2), 3), "matmul_loops") is None
    out = capsys.readouterr().out
    assert out.startswith("(this demo stopped: TypeError: can only concatenate tuple") and "fix matmul_loops" in out
    assert "at matmul_loops, line 2: return a + b" in out and "lesson.py" not in out and "Traceback" not in out


def test_in_ipython_the_demo_names_the_prompt_of_the_student_s_cell(capsys):
    """In a notebook the line is placed where the student's screen shows it: "line 2 of In [8]"."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.execution_count = 8
        shell.run_cell("def matmul_loops(a, b):\n    return a + b\n", store_history=True)
        assert when_ready(lambda: shell.user_ns["matmul_loops"]((1, 2), 3), "matmul_loops") is None
        out = capsys.readouterr().out
        assert "at matmul_loops, line 2 of In [8]: return a + b" in out, out
    finally:
        InteractiveShell.clear_instance()


def test_when_ready_lets_an_interrupt_stop_the_cell():
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        when_ready(interrupted, "matmul_loops")


def test_timed_runs_a_slow_function_once_with_repeat_one():
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.02)

    seconds = timed(slow, repeat=1)
    assert len(calls) == 1 and 0.015 < seconds < 1.0


def test_timed_averages_fast_calls_and_passes_arguments():
    calls = []

    def fast(a, b, scale=1):
        calls.append((a, b, scale))
        return a * b * scale

    seconds = timed(fast, 2, 3, repeat=3, scale=2)
    assert seconds > 0 and seconds < 1e-3
    assert len(calls) > 3 and set(calls) == {(2, 3, 2)}
    calls.clear()
    timed(fast, 1, 1, repeat=2, number=4)
    assert len(calls) == 1 + 2 * 4


def test_seconds_text():
    assert seconds_text(1.234) == "1.23 s"
    assert seconds_text(0.0034) == "3.4 ms"
    assert seconds_text(1.25e-5) == "12.5 µs"


def test_speed_table_shows_speedups_over_the_base():
    table = speed_table({"loops": 1.0, "elementwise": 0.002, "@": 1e-5}, base="loops",
                        lesson={"elementwise": "~700x"})
    lines = table.splitlines()
    assert "speed-up over loops" in lines[0] and "in the lesson" in lines[0]
    assert "1x" in lines[2] and "500x" in lines[3] and "~700x" in lines[3] and "100,000x" in lines[4]
    assert "-" in speed_table({"elementwise": 0.002}, base="loops").splitlines()[2]


def test_a_version_slower_than_the_base_shows_its_fraction_not_0x():
    """A race where the base is the fast one: 160 ms against a base of 34 ms is 0.21x, not 0x; 2.5x keeps its
    half."""
    lines = speed_table({"fast": 0.034, "slow": 0.160, "a bit faster": 0.0136}, base="fast").splitlines()
    assert lines[2].endswith(" 1x") and lines[3].endswith(" 0.21x") and lines[4].endswith(" 2.5x"), lines
