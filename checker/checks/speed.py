"""Speed: the student's CPU time over a yardstick's, each read from the kernel outside its process."""
from __future__ import annotations

import dataclasses
import secrets
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

    Both are CPU time, turn about, on the same inputs built here, fresh for each measurement (drawn from the
    system's randomness: no call meets an input twice) and every answer checked, the gradients a call sets too
    (sampled at positions drawn per call): the student's function in her process,
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
    # the .g the call must set (forward_and_backward), by autograd here: checked on every timed call, at positions
    # drawn afresh each time (a call that skipped its backward while timed would otherwise be fast, and pass)
    grads: Callable[..., Sequence[torch.Tensor]] | None = None
    grad_of: Sequence[int] = ()  # the arguments that hold them
    grad_names: Sequence[str] = ()
    name = "speed"
    category = CONSTRAINT
    SAMPLED = 64  # entries of each gradient read per call: a copy of a whole one would count in her time

    def fresh_specs(self, ctx: Context, count: int | None = None) -> list[dict]:
        """Inputs no call has seen: each call's own seed, from the system's randomness (a function that remembers
        what it was given, and answers from memory when it meets an input again, meets none)."""
        spec = self.spec(ctx.seed)
        return [dict(spec, seed=secrets.randbelow(2 ** 62)) for _ in range(self.rounds if count is None else count)]

    def _sample(self, args: tuple) -> list | None:
        if self.grads is None:
            return None
        return [[i, sorted(secrets.randbelow(max(args[i].numel(), 1)) for _ in range(self.SAMPLED))]
                for i in self.grad_of]

    def measure(self, ctx: Context, specs: list[dict]) -> tuple[list[tuple], dict]:
        """Per round (its inputs built here and, untimed, in the child from the same spec), the student's and the
        yardstick's CPU seconds (interleaved, alternating who goes first) and the student's answer (with the
        gradients it set, sampled), or the raised answer that stopped it; and the rounds' inputs."""
        student, yardstick, answers, rounds = [], [], [], []
        for r, spec in enumerate(specs):
            args = build(spec)
            rounds.append(args)
            sample = self._sample(args)
            staged = ctx.stage(spec)
            if staged.raised:  # her jail could not hold the inputs (her own allocations fill it)
                return rounds, {"raised": staged}
            if r % 2:
                answer, seconds = ctx.timed_call(None, sample)
                reference = ctx.yardstick_seconds(self.yardstick, list(args))
            else:
                reference = ctx.yardstick_seconds(self.yardstick, list(args))
                answer, seconds = ctx.timed_call(None, sample)
            if answer.raised:
                return rounds, {"raised": answer}
            student.append(seconds)
            yardstick.append(reference)
            answers.append((answer.result, sample))
        return rounds, {"student": student, "yardstick": yardstick, "answers": answers}

    def wrong(self, where: str, rounds: list[tuple], result: dict) -> str | None:
        """What was wrong in any answer of a measurement: every timed call's, not only the last."""
        for args, (answer, sample) in zip(rounds, result["answers"]):
            expected = self.expected(*args)
            wrong = difference(where, expected, answer["out"], Tolerance.for_dtype(expected.dtype, scale=10))
            if wrong:
                return wrong
            if self.grads is not None:
                wrong = self._wrong_grads(where, args, answer.get("g_sampled", []), sample)
                if wrong:
                    return wrong
        return None

    def _wrong_grads(self, where: str, args: tuple, got: list, sample: list) -> str | None:
        wanted = self.grads(*args)
        for name, want, packed, (_, positions) in zip(self.grad_names, wanted, got, sample):
            if packed.get("missing"):
                return msg.GRAD_MISSING.format(input=where, what=name)
            if "shape" in packed and tuple(packed["shape"]) != tuple(want.shape):
                return msg.prefixed(f"{name} ", msg.SHAPE_MISMATCH.format(input=where, expected=tuple(want.shape),
                                                                          got=tuple(packed["shape"])))
            picked = want.detach().reshape(-1)[torch.tensor(positions, dtype=torch.long)]
            largest = float(want.detach().abs().max()) if want.numel() else 1.0
            # the entries against the largest one: a float32 sum over the 10,000 rows of a timed batch, in another
            # order than autograd's, can be off by a few hundredths of a percent of the largest where its terms
            # cancel (0.00648 for 0.00631, the largest 0.09: a right answer, CI); a mistake is off by far more
            tol = Tolerance(rtol=1e-3, atol=1e-2 * max(largest, 1e-12))
            wrong = difference(where, picked, packed, tol)
            if wrong:
                return msg.prefixed(f"{name} ", wrong)
        return None

    def run(self, ctx: Context):
        rounds, result = self.measure(ctx, self.fresh_specs(ctx))  # built here, and there from the same spec
        where = label(self.names, rounds[-1])  # every round's inputs have the same shapes
        if "raised" in result:
            return self.outcome([result["raised"].raised_problem(where)])
        wrong = self.wrong(where, rounds, result)
        if wrong:  # right on the visible inputs, wrong on fresh ones: as wrong as any wrong answer
            return Outcome(self.name, False, [msg.SPEED_WRONG_ANSWERS.format(detail=wrong)], CORRECTNESS)
        student, reference, ratio = self.medians(result)
        if ratio > self.bar:  # measured once more, on inputs of its own, judged the same way
            again_rounds, again = self.measure(ctx, self.fresh_specs(ctx))
            if "raised" in again:
                return self.outcome([again["raised"].raised_problem(where)])
            wrong = self.wrong(where, again_rounds, again)
            if wrong:
                return Outcome(self.name, False, [msg.SPEED_WRONG_ANSWERS.format(detail=wrong)],
                               CORRECTNESS)
            if self.medians(again)[2] < ratio:
                student, reference, ratio = self.medians(again)
        facts = dict(input=where, student=human_seconds(student), reference=human_seconds(reference),
                     yardstick=self.yardstick_label, ratio=ratio, bar=self.bar)
        timing = {"student_seconds": student, "reference_seconds": reference, "ratio": ratio, "bar": self.bar}
        if ratio > self.bar:
            return self.outcome([msg.SPEED_FAILED.format(**facts)], timing=timing)
        if ctx.trace_every_call:  # the timed calls run untraced: one more call on inputs of their shapes, traced
            if not ctx.stage(self.fresh_specs(ctx, 1)[0]).raised:
                ctx.probe("call", about=where, staged=True)
        return self.outcome([], [msg.SPEED_PASSED.format(**facts)], timing=timing)

    @staticmethod
    def medians(result: dict) -> tuple[float, float, float]:
        """(student, yardstick, ratio) of one measurement's medians."""
        student, reference = statistics.median(result["student"]), statistics.median(result["yardstick"])
        return student, reference, student / max(reference, 1e-9)
