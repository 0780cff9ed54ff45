"""Small helpers for the demonstrations in the lesson notebooks (they play no part in grading).

``when_ready`` lets a demo that calls an exercise run in a notebook where that exercise is
still nbgrader's stub, or is still wrong: the stub's ``NotImplementedError`` becomes a short note,
any other error becomes a few lines (the error and the student's own line that raised it, no
frames of the kit) instead of a traceback, and the rest of the notebook keeps running: Run All
always reaches the end. ``timed`` and
``speed_table`` time a function and lay out a speed ladder.
"""
from __future__ import annotations

import os
import statistics
import sys
import sysconfig
import time
import traceback
from typing import Any, Callable, Mapping

READY_NOTE = "(this demo runs once you have written {names})"
DEMO_STOPPED = "(this demo stopped: {error}{where}; fix {names} and run this cell again)"
DEMO_WHERE = "\n  at {function}, line {line}{cell}: {code}"
DEMO_CELL = " of In [{prompt}]"  # the prompt the student's screen shows beside the cell
ANY_EXERCISE = "the exercises above"
SHORT_CALL_SECONDS = 0.005  # calls faster than this are repeated in a loop and averaged
MAX_NUMBER = 10_000


def _join(names) -> str:
    names = [str(n) for n in names]
    if not names:
        return ANY_EXERCISE
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def when_ready(demo: Callable[[], Any], *names: str) -> Any:
    """Run ``demo()`` and return what it returns.

    If it raises ``NotImplementedError`` (an exercise it uses is still a stub), print
    "(this demo runs once you have written <names>)" and return None. Any other error (an exercise
    that is still wrong) prints the error and the student's line that raised it, and returns None:
    the notebook goes on. An interrupt (the stop button) still stops the cell.
    """
    try:
        return demo()
    except NotImplementedError as exc:
        note = READY_NOTE.format(names=_join(names))
        detail = str(exc).strip()
        print(f"{note[:-1]}; it stopped at: {detail})" if detail else note)
        return None
    except Exception as exc:  # noqa: BLE001 - a wrong exercise must not stop Run All: shown, not raised
        print(DEMO_STOPPED.format(error=f"{type(exc).__name__}: {str(exc).strip()[:300]}",
                                  where=_students_line(exc), names=_join(names)))
        return None


_LIBRARY_DIRS = tuple({os.path.dirname(os.path.abspath(__file__)), sysconfig.get_paths()["stdlib"],
                       sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], sys.prefix,
                       sys.base_prefix})


def _students_line(exc: BaseException) -> str:
    """The deepest frame of the traceback in the student's own code (not the kit, torch or Python itself)."""
    mine = [f for f in traceback.extract_tb(exc.__traceback__)
            if not os.path.abspath(f.filename).startswith(_LIBRARY_DIRS) and f.name != "when_ready"]
    if not mine:
        return ""
    frame = mine[-1]
    prompt = _prompt_of(frame.filename)
    return DEMO_WHERE.format(function=frame.name, line=frame.lineno, code=(frame.line or "").strip()[:120],
                             cell=DEMO_CELL.format(prompt=prompt) if prompt is not None else "")


def _prompt_of(filename: str) -> int | None:
    """The execution count of the notebook cell compiled under ``filename`` (IPython keeps the map its own
    tracebacks read for "Cell In[8]"), or None outside IPython."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    number = getattr(getattr(shell, "compile", None), "_filename_map", {}).get(filename)
    return number if isinstance(number, int) else None


def timed(f: Callable[..., Any], *args: Any, repeat: int = 5, number: int | None = None, **kwargs: Any) -> float:
    """Median seconds per call of ``f(*args, **kwargs)``.

    The first call is a warm-up and sets ``number``, the calls per measurement, when it is not
    given (fast functions are called many times and averaged). With ``repeat=1`` and a slow
    function (one call per measurement) the function runs exactly once.
    """
    start = time.perf_counter()
    f(*args, **kwargs)
    first = time.perf_counter() - start
    if number is None:
        number = 1 if first >= SHORT_CALL_SECONDS else min(MAX_NUMBER, max(1, int(SHORT_CALL_SECONDS / max(first, 1e-9))))
    if repeat <= 1 and number == 1:
        return first
    measured = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        for _ in range(number):
            f(*args, **kwargs)
        measured.append((time.perf_counter() - start) / number)
    return statistics.median(measured)


def seconds_text(seconds: float) -> str:
    """A duration for people: '1.02 s', '3.4 ms', '12.5 µs'."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def speedup_text(ratio: float) -> str:
    """12,345x and 45x as whole numbers; under 10x with two significant digits (0.21x is a slow-down, not 0x)."""
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def speed_table(times: Mapping[str, float], base: str, lesson: Mapping[str, str] | None = None) -> str:
    """A table of the timings with each one's speed-up over ``times[base]`` (and the lesson's figure)."""
    lesson = lesson or {}
    width = max([len(name) for name in times] + [len("version")])
    header = f"{'version':<{width}}  {'time':>10}  {'speed-up over ' + base:>22}"
    if lesson:
        header += "  in the lesson"
    lines = [header, "-" * len(header)]
    for name, seconds in times.items():
        speedup = speedup_text(times[base] / seconds) if base in times and seconds > 0 else "-"
        line = f"{name:<{width}}  {seconds_text(seconds):>10}  {speedup:>22}"
        if lesson:
            line += f"  {lesson.get(name, '')}"
        lines.append(line.rstrip())
    return "\n".join(lines)
