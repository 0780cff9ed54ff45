"""Loops an exercise asks for: its work must grow with every dimension it loops over.

The inverse of :class:`checker.checks.operations.OpGrowth`. Loops over scalar entries run torch ops on scalars,
whose count grows with each dimension: the trace counts them, the same way on every run. Loops over Python numbers
(after ``.tolist()`` or ``.item()``) run no torch op per step: a call that turns tensors into Python numbers is
taken to loop over them (in Python, a product of matrices can only be loops, written or in ``sum``/``map``).
Vectorised code that stays in torch (a broadcast product, then a sum by halving or by slices of a fixed count)
grows in neither, and fails; so does vectorised code whose result is then read as Python numbers: a call that
leaves torch is taken to loop over Python numbers only where its torch calls computed fewer elements than the loops
have steps (``n * k * m``; what they move, reshape or make from nothing computes none). And no call may compute
more entries at once than the largest dimension: a broadcast product beside a loop that computes nothing (its
ops counted, its results unused) is no loop over scalar entries. Not timed: a loop over Python numbers costs about a hundred nanoseconds a step, a
vectorised pass over the same entries tens, too close to tell apart on a loaded machine.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Mapping

from checker import messages as msg
from checker.checks.base import CONSTRAINT, Context
from checker.checks.operations import TRACE_SEES_LEAVING, TracedRule, _traced, drawn_sizes, names_in
from checker.inputs import Case


@dataclasses.dataclass
class LoopsRequired(TracedRule):
    """With any dimension doubled, a loop over every scalar entry runs at least one more tensor op for each scalar
    step of the base sizes (their product: ``n * k * m`` multiply-adds), or the call loops over Python numbers."""

    make: Callable[[int, Mapping[str, int]], Case]
    base: Mapping[str, int]
    dims: Mapping[str, str]  # dimension -> how feedback names it ("the inner dimension")
    expected: str
    describe: Callable[[Mapping[str, int]], str]
    name = "loops"
    category = CONSTRAINT

    def judge(self, ctx: Context) -> list[str]:
        base = drawn_sizes(ctx, self.base)
        steps = math.prod(base.values())
        first = _traced(ctx, self.make(ctx.seed, base), fresh=True)
        widest, op = first.get("widest", (0, ""))
        if widest > max(base.values()):  # loops over scalar entries compute a few at a time, at most a row
            return [msg.LOOPS_VECTORISED.format(name=ctx.exercise.name, size=widest, op=op,
                                                base=self.describe(base), expected=self.expected)]
        if names_in(first) & TRACE_SEES_LEAVING and first.get("computed", 0) < steps:
            return []  # loops over Python numbers (no op count measures them): torch computed less than the steps
        # (a broadcast product in torch, its result then read as Python numbers, computed every step in torch)
        for dim, label in self.dims.items():
            grown = dict(base, **{dim: base[dim] * 2})
            count = _traced(ctx, self.make(ctx.seed, grown), fresh=True)["total"]
            if count - first["total"] < steps:
                return [msg.LOOPS_MISSING.format(
                    name=ctx.exercise.name, dim=label, count=first["total"], base=self.describe(base), bigger=count,
                    grown=self.describe(grown), steps=steps, expected=self.expected)]
        return []
