"""Small helpers for the demonstrations in the lesson notebooks (they play no part in grading).

``when_ready`` lets a demo that calls an exercise run in a notebook where that exercise is
still nbgrader's stub: the stub raises ``NotImplementedError``, the demo prints a short note
instead of a traceback, and the rest of the notebook keeps running. ``timed`` and
``speed_table`` time a function and lay out a speed ladder.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Mapping

READY_NOTE = "(this demo runs once you have written {names})"
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
    "(this demo runs once you have written <names>)" and return None. Any other error is a
    real error and is raised as usual.
    """
    try:
        return demo()
    except NotImplementedError as exc:
        note = READY_NOTE.format(names=_join(names))
        detail = str(exc).strip()
        print(f"{note[:-1]}; it stopped at: {detail})" if detail else note)
        return None


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


def speed_table(times: Mapping[str, float], base: str, lesson: Mapping[str, str] | None = None) -> str:
    """A table of the timings with each one's speed-up over ``times[base]`` (and the lesson's figure)."""
    lesson = lesson or {}
    width = max([len(name) for name in times] + [len("version")])
    header = f"{'version':<{width}}  {'time':>10}  {'speed-up over ' + base:>22}"
    if lesson:
        header += "  in the lesson"
    lines = [header, "-" * len(header)]
    for name, seconds in times.items():
        speedup = f"{times[base] / seconds:,.0f}x" if base in times and seconds > 0 else "-"
        line = f"{name:<{width}}  {seconds_text(seconds):>10}  {speedup:>22}"
        if lesson:
            line += f"  {lesson.get(name, '')}"
        lines.append(line.rstrip())
    return "\n".join(lines)
