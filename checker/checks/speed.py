"""Speed: the student's time over a yardstick's, timed interleaved in one process on fresh inputs."""
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
    """median(student) / median(yardstick) must be at most ``bar``. A ratio over the bar is measured once
    more and the lower ratio counts: on a loaded machine the scheduler can stretch most of one batch of
    short calls (seen once in 168 autograded notebooks: 8.2x for the lesson's own code, 1.4x on every
    re-run), and a second batch stretched alike is far less likely than one; a slow solution is slow
    in both."""

    spec: Callable[[int], dict]
    names: Sequence[str]
    yardstick: str
    yardstick_label: str
    bar: float
    rounds: int
    expected: Callable[..., torch.Tensor]
    name = "speed"
    category = CONSTRAINT

    def run(self, ctx: Context):
        spec = self.spec(ctx.seed)
        answer = ctx.probe("timing", yardstick=self.yardstick, spec=spec, rounds=self.rounds)
        if answer.raised:
            return self.outcome([answer.raised_problem(label(self.names, build(spec)))])
        result = answer.result
        last = build(dict(spec, seed=result["last_seed"]))  # every round's inputs have the same shapes
        where = label(self.names, last)
        expected = self.expected(*last)
        wrong = difference(where, expected, result["out"], Tolerance.for_dtype(expected.dtype, scale=10))
        if wrong:  # right on the visible inputs, wrong on fresh ones: as wrong as any wrong answer
            return Outcome(self.name, False, [msg.SPEED_WRONG_ANSWERS.format(input=where, detail=wrong)], CORRECTNESS)
        student, reference, ratio = self.medians(result)
        if ratio > self.bar:
            again = ctx.probe("timing", yardstick=self.yardstick, spec=spec, rounds=self.rounds)
            if not again.raised and self.medians(again.result)[2] < ratio:
                student, reference, ratio = self.medians(again.result)
        facts = dict(input=where, student=human_seconds(student), reference=human_seconds(reference),
                     yardstick=self.yardstick_label, ratio=ratio, bar=self.bar)
        timing = {"student_seconds": student, "reference_seconds": reference, "ratio": ratio, "bar": self.bar}
        if ratio > self.bar:
            return self.outcome([msg.SPEED_FAILED.format(**facts)], timing=timing)
        return self.outcome([], [msg.SPEED_PASSED.format(**facts)], timing=timing)

    @staticmethod
    def medians(result: dict) -> tuple[float, float, float]:
        """(student, yardstick, ratio) of one timing probe's medians."""
        student, reference = statistics.median(result["student"]), statistics.median(result["yardstick"])
        return student, reference, student / max(reference, 1e-9)
