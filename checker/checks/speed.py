"""Speed: the student's CPU time over a yardstick's, each read from the kernel outside its process."""
from __future__ import annotations

import dataclasses
import statistics
from typing import Callable, Sequence

import torch

from checker import messages as msg
from checker.checks.base import CONSTRAINT, CORRECTNESS, Check, Context, Outcome
from checker.compare import Tolerance, difference
from checker.inputs import build, label


def human_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


@dataclasses.dataclass
class SpeedBar(Check):
    """median(student) / median(yardstick) must be at most ``bar``.

    Both are CPU time, turn about, on the same fresh inputs built here: the student's function in her process,
    as the kernel counts it for her whole jail (every thread and process in it), read by the grader around
    each call; the yardstick in the grader itself, which never runs student code, on its own thread's CPU
    clock (checker.yardsticks.cpu_seconds). Nothing the student's process measures or reports is used. A ratio over the bar is measured once more
    and the lower ratio counts: on a loaded machine the scheduler can stretch one batch of short calls
    (cache and frequency effects reach CPU time too), and a second batch stretched alike is far less
    likely than one; a slow solution is slow in both."""

    spec: Callable[[int], dict]
    names: Sequence[str]
    yardstick: str
    yardstick_label: str
    bar: float
    rounds: int
    expected: Callable[..., torch.Tensor]
    name = "speed"
    category = CONSTRAINT

    def measure(self, ctx: Context, rounds: list[tuple]) -> dict:
        """Per round, the student's and the yardstick's CPU seconds (interleaved, alternating who goes first),
        the student's last answer, or the raised answer that stopped it."""
        student, yardstick, out = [], [], None
        for r, args in enumerate(rounds):
            if r % 2:
                answer, seconds = ctx.timed_call(list(args))
                reference = ctx.yardstick_seconds(self.yardstick, list(args))
            else:
                reference = ctx.yardstick_seconds(self.yardstick, list(args))
                answer, seconds = ctx.timed_call(list(args))
            if answer.raised:
                return {"raised": answer}
            student.append(seconds)
            yardstick.append(reference)
            out = answer.result["out"]
        return {"student": student, "yardstick": yardstick, "out": out}

    def run(self, ctx: Context):
        spec = self.spec(ctx.seed)
        rounds = [build(dict(spec, seed=spec["seed"] + r)) for r in range(self.rounds)]  # built here, sent
        where = label(self.names, rounds[-1])  # every round's inputs have the same shapes
        result = self.measure(ctx, rounds)
        if "raised" in result:
            return self.outcome([result["raised"].raised_problem(where)])
        expected = self.expected(*rounds[-1])
        wrong = difference(where, expected, result["out"], Tolerance.for_dtype(expected.dtype, scale=10))
        if wrong:  # right on the visible inputs, wrong on fresh ones: as wrong as any wrong answer
            return Outcome(self.name, False, [msg.SPEED_WRONG_ANSWERS.format(input=where, detail=wrong)], CORRECTNESS)
        student, reference, ratio = self.medians(result)
        if ratio > self.bar:
            again = self.measure(ctx, rounds)
            if "raised" not in again and self.medians(again)[2] < ratio:
                student, reference, ratio = self.medians(again)
        facts = dict(input=where, student=human_seconds(student), reference=human_seconds(reference),
                     yardstick=self.yardstick_label, ratio=ratio, bar=self.bar)
        timing = {"student_seconds": student, "reference_seconds": reference, "ratio": ratio, "bar": self.bar}
        if ratio > self.bar:
            return self.outcome([msg.SPEED_FAILED.format(**facts)], timing=timing)
        if ctx.trace_every_call:  # the timed calls run untraced: one more call on their inputs, traced, for the rule
            ctx.probe("call", about=where, args=list(rounds[-1]))
        return self.outcome([], [msg.SPEED_PASSED.format(**facts)], timing=timing)

    @staticmethod
    def medians(result: dict) -> tuple[float, float, float]:
        """(student, yardstick, ratio) of one measurement's medians."""
        student, reference = statistics.median(result["student"]), statistics.median(result["yardstick"])
        return student, reference, student / max(reference, 1e-9)
