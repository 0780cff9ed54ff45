"""Values: the student's function against a reference on seeded inputs and edge cases."""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import torch

from checker import messages as msg
from checker.checks.base import CONSTRAINT, Check, Context
from checker.compare import Tolerance, difference, precision_note, unpack
from checker.inputs import Case, renumbered

Hint = Callable[[Case, torch.Tensor, torch.Tensor | None], "str | None"]
MAX_PROBLEMS = 3


def arg_names(case: Case, names: Sequence[str], index: int) -> str:
    return names[index] if index < len(names) else f"argument {index}"


SHAPE_ERRORS = ("RuntimeError", "ValueError", "IndexError")  # what torch raises when shapes do not fit


@dataclasses.dataclass
class Values(Check):
    """fn(*case.args) equals reference(*case.args): shape and dtype first, then values."""

    cases: Callable[[int], list[Case]]
    reference: Callable[..., torch.Tensor]
    names: Sequence[str]
    hints: Sequence[Hint] = ()
    tolerance: Callable[[Case, torch.Tensor], Tolerance] | None = None
    nonnegative: bool = False
    any_float: bool = False  # the contract asks for "a float" (accuracy), not the inputs' dtype: float64 is right too
    name = "values"

    def run(self, ctx: Context):
        problems: list[str] = []
        notes: list[str] = []
        cases = self.cases(ctx.seed)
        cases = cases + [renumbered(cases[0], ctx.seed)] if cases else cases
        for case in cases:
            answer = ctx.probe("call", about=case.label, args=list(case.args))
            if answer.raised:
                problems.append(answer.raised_problem(case.label))
                if answer.raised.get("type") in SHAPE_ERRORS:  # a hint about shapes, for torch's shape errors only
                    expected = self.reference(*case.args)
                    problems.extend(h for h in (hint(case, expected, None) for hint in self.hints) if h)
            else:
                problems.extend(self.judge(case, answer.result))
                note = None if self.any_float else \
                    precision_note(case.label, self.reference(*case.args), answer.result["out"])
                if note and not notes:
                    notes.append(note)
            if len(problems) >= MAX_PROBLEMS:
                break
        kinds = sorted({c.note for c in cases if c.note})
        return self.outcome(problems[:MAX_PROBLEMS],
                            [msg.CASES_PASSED.format(count=len(cases), kinds=", ".join(kinds) or "random inputs"), *notes])

    def judge(self, case: Case, result: dict) -> list[str]:
        expected = self.reference(*case.args)
        tol = self.tolerance(case, expected) if self.tolerance else None
        got = unpack(result["out"])
        floating = got is not None and got.dtype.is_floating_point
        problem = difference(case.label, expected, result["out"], tol, check_dtype=not (self.any_float and floating))
        if problem:
            return [problem] + [h for h in (hint(case, expected, got) for hint in self.hints) if h]
        if self.nonnegative and got.numel() and float(got.min()) < 0:
            flat = int(got.flatten().argmin())
            index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), got.shape))
            return [msg.NEGATIVE_RESULT.format(input=case.label, got=float(got.min()), index=index),
                    msg.HINT_NEGATIVE_DISTANCES]
        if result["changed"]:
            arg = arg_names(case, self.names, result["changed"][0])
            return [msg.INPUT_MODIFIED.format(input=case.label, arg=arg)]
        if result["aliases"]:
            return [msg.RETURNS_INPUT.format(input=case.label)]
        return []


@dataclasses.dataclass
class Raises(Check):
    """The catalogue's required errors on bad shapes."""

    cases: Callable[[int], list[Case]]
    allowed: Sequence[str] = ("AssertionError", "ValueError")
    name = "bad_shapes"
    category = CONSTRAINT

    def run(self, ctx: Context):
        problems = []
        expected = " or ".join(self.allowed)
        for case in self.cases(ctx.seed):
            answer = ctx.probe("call", about=case.label, args=list(case.args))
            if answer.raised is None:
                out = answer.result["out"]
                got = f"shape {tuple(out['tensor'].shape)}" if "tensor" in out else out.get("repr", "?")
                problems.append(msg.DID_NOT_RAISE.format(input=case.label, expected=expected, got=got))
            elif not set(answer.raised.get("mro", [answer.raised["type"]])) & set(self.allowed):
                problems.append(msg.WRONG_EXCEPTION.format(input=case.label, expected=expected,
                                                           type=answer.raised["type"],
                                                           message=answer.raised["message"]))
        return self.outcome(problems)
