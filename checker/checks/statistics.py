"""Statistics of random initialisers, with tolerances many standard errors wide."""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import torch

from checker import messages as msg
from checker.checks.base import Check, Context
from checker.compare import unpack

STANDARD_ERRORS = 6.0
GAUSSIAN_TAIL = 0.0027  # P(|z| > 3) for a standard normal


def std_tolerance(std: float, count: int) -> float:
    """Six standard errors of a sample standard deviation (about std / sqrt(2 count))."""
    return STANDARD_ERRORS * std / math.sqrt(2 * count)


def mean_tolerance(std: float, count: int) -> float:
    return STANDARD_ERRORS * std / math.sqrt(count)


def weight_problems(name: str, n_in: int, n_out: int, w: torch.Tensor, want_std: float, formula: str,
                    hints: Sequence[tuple[Callable[[int, int], float], str]] = (), gaussian: bool = True) -> list[str]:
    """Mean 0 and std ``want_std`` within their standard errors; with ``gaussian``, a normal distribution's tails
    too (``kaiming_init`` asks for one; a layer "Kaiming-initialised" may be the uniform variant too)."""
    count = w.numel()
    w = w.double()
    problems = []
    mean, std = float(w.mean()), float(w.std())
    if abs(mean) > mean_tolerance(want_std, count):
        problems.append(msg.STAT_MEAN.format(name=name, n_in=n_in, n_out=n_out, got=mean,
                                             tol=mean_tolerance(want_std, count)))
    tol = std_tolerance(want_std, count)
    if abs(std - want_std) > tol:
        problems.append(msg.STAT_STD.format(name=name, n_in=n_in, n_out=n_out, got=std, want=want_std,
                                            formula=formula, tol=tol))
        problems.extend(text for alt, text in hints if abs(std - alt(n_in, n_out)) <= std_tolerance(alt(n_in, n_out), count))
    elif std > 0 and gaussian:
        tail = float(((w - mean).abs() > 3 * std).double().mean())
        if abs(tail - GAUSSIAN_TAIL) > STANDARD_ERRORS * math.sqrt(GAUSSIAN_TAIL / count) + 1e-4:
            problems.append(msg.STAT_NOT_GAUSSIAN.format(name=name, n_in=n_in, n_out=n_out, fraction=tail))
    return problems


@dataclasses.dataclass
class InitStatistics(Check):
    """fn(n_in, n_out): shape, mean 0, the right std, Gaussian, random, reproducible under a seed."""

    sizes: Sequence[tuple[int, int]]
    std: Callable[[int, int], float]
    formula: str
    hints: Sequence[tuple[Callable[[int, int], float], str]] = ()
    name = "statistics"

    def run(self, ctx: Context):
        name = ctx.exercise.name
        problems: list[str] = []
        notes: list[str] = []
        for n_in, n_out in self.sizes:
            answer = ctx.probe("samples", args=[n_in, n_out], seed=ctx.child_seed(1000))
            if answer.raised:
                return self.outcome([answer.raised_problem(f"n_in={n_in}, n_out={n_out}")])
            r = answer.result
            tensors = {k: unpack(r[k]) for k in ("first", "second", "seeded_a", "seeded_b")}
            first = tensors["first"]
            if first is None:
                problems.append(msg.NOT_A_TENSOR.format(input=f"n_in={n_in}, n_out={n_out}",
                                                        type=r["first"].get("type"), repr=r["first"].get("repr")))
                break
            if tuple(first.shape) != (n_in, n_out):
                problems.append(msg.STAT_SHAPE.format(name=name, n_in=n_in, n_out=n_out, got=tuple(first.shape),
                                                      expected=(n_in, n_out)))
                break
            problems.extend(weight_problems(name, n_in, n_out, first, self.std(n_in, n_out), self.formula, self.hints))
            if tensors["second"] is not None and torch.equal(first, tensors["second"]):
                problems.append(msg.STAT_NOT_RANDOM.format(name=name, n_in=n_in, n_out=n_out))
            a, b = tensors["seeded_a"], tensors["seeded_b"]
            if a is None or b is None or a.shape != b.shape or not torch.equal(a, b):
                problems.append(msg.STAT_NOT_SEEDED.format(name=name, n_in=n_in, n_out=n_out))
            if problems:
                break
            want = self.std(n_in, n_out)
            notes.append(msg.STAT_PASSED.format(name=name, n_in=n_in, n_out=n_out, mean=float(first.double().mean()),
                                                std=float(first.double().std()), want=want,
                                                tol=std_tolerance(want, first.numel())))
        return self.outcome(problems, notes)
