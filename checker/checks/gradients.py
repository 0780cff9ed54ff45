"""Gradients: every hand-written ``.g`` against torch.autograd on the same forward pass."""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import torch

from checker import messages as msg
from checker.checks.base import Check, Context
from checker.compare import Tolerance, difference, unpack
from checker.inputs import Case, renumbered

GradHint = Callable[[str, torch.Tensor, "torch.Tensor | None"], "str | None"]
STALE = 3.0  # a .g left over from an earlier pass: the code under test must replace it, not add to it


def autograd_grads(forward: Callable, args: Sequence[torch.Tensor], wrt: Sequence[int], out_grad=None):
    """(output, [grad of args[i] for i in wrt]) computed by torch.autograd in float64-safe copies."""
    leaves = [a.detach().clone().requires_grad_(i in wrt) if isinstance(a, torch.Tensor) else a
              for i, a in enumerate(args)]
    out = forward(*leaves)
    if out_grad is None:
        out.backward()
    else:
        out.backward(out_grad)
    return out.detach(), [leaves[i].grad for i in wrt]


def grad_problems(label: str, names: Sequence[str], expected: Sequence[torch.Tensor], got: Sequence[dict],
                  hints: Sequence[GradHint] = (), accumulated: Sequence[torch.Tensor] | None = None) -> list[str]:
    problems = []
    for i, (name, want, packed) in enumerate(zip(names, expected, got)):
        if packed.get("missing"):
            problems.append(msg.GRAD_MISSING.format(input=label, what=name))
            continue
        tol = Tolerance.for_dtype(want.dtype, scale=10)
        problem = difference(label, want, packed, tol)
        if problem is None:
            continue
        have = unpack(packed)
        if have is not None and have.shape == want.shape and bool((have == STALE).all()) \
                and not bool((want == STALE).all()):
            problems.append(msg.GRAD_STALE.format(input=label, what=name, stale=STALE))
            continue
        if accumulated is not None and accumulated[i] is not None and have is not None and have.shape == want.shape \
                and difference(label, accumulated[i], packed, tol) is None:
            problems.append(msg.GRAD_NOT_FRESH.format(input=label, what=name))
            continue
        problems.append(msg.prefixed(f"{name} ", problem))
        problems.extend(h for h in (hint(name, want, have) for hint in hints) if h)
    return problems


@dataclasses.dataclass
class FunctionGradients(Check):
    """fn(*args) with some ``.g`` preset sets the ``.g`` of other args as autograd would."""

    cases: Callable[[int], list[Case]]
    preset: Callable[[Case], dict[int, torch.Tensor]]
    collect: Sequence[int]
    labels: Sequence[str]
    expected: Callable[[Case], tuple["torch.Tensor | None", list[torch.Tensor]]]
    hints: Sequence[GradHint] = ()
    name = "gradients"

    def run(self, ctx: Context):
        problems: list[str] = []
        cases = self.cases(ctx.seed)
        cases = cases + [renumbered(cases[0], ctx.seed)] if cases else cases
        for case in cases:
            preset = self.preset(case)
            stale = {i: torch.full_like(case.args[i], STALE) for i in self.collect if i not in preset}
            answer = ctx.probe("call", about=case.label, args=list(case.args), preset_g={**preset, **stale},
                               collect_g=list(self.collect))
            if answer.raised:
                problems.append(answer.raised_problem(case.label))
                break
            returned, grads = self.expected(case)
            accumulated = [g + STALE if i in stale else None for i, g in zip(self.collect, grads)]
            if returned is not None:
                problem = difference(case.label, returned, answer.result["out"],
                                     Tolerance.for_dtype(returned.dtype, scale=10))
                if problem:
                    problems.append(msg.prefixed("returned loss ", problem))
            problems.extend(grad_problems(case.label, self.labels, grads, answer.result["g"], self.hints, accumulated))
            if problems:
                break
        return self.outcome(problems[:4], [msg.GRADS_PASSED.format(names=", ".join(self.labels), count=len(cases))])


@dataclasses.dataclass
class LayerCase:
    label: str
    init_args: tuple
    runs: list[tuple]
    out_g: torch.Tensor | list | None  # a list: one per run (the runs' shapes differ)
    collect_init: tuple[int, ...]
    collect_call: tuple[int, ...]
    names: list[str]
    expected_out: torch.Tensor
    expected: list[torch.Tensor]
    accumulated: list[torch.Tensor] | None = None


@dataclasses.dataclass
class LayerGradients(Check):
    """A layer class: ``out = obj(*args)``, ``out.g = ...``, ``obj.backward()`` sets the right ``.g``."""

    cases: Callable[[int], list[LayerCase]]
    hints: Sequence[GradHint] = ()
    out_hints: Sequence[Callable] = ()  # (the last call's args, the forward output got) -> a hint or None
    raised_hints: Sequence[Callable] = ()  # (what her code raised: {"type", "message"}) -> a hint or None
    name = "gradients"

    def run(self, ctx: Context):
        problems: list[str] = []
        cases = self.cases(ctx.seed)
        for case in cases:
            answer = ctx.probe("layer", about=case.label, init_args=list(case.init_args), runs=[list(r) for r in case.runs],
                               out_g=case.out_g, collect_init=list(case.collect_init),
                               collect_call=list(case.collect_call), stale=STALE)
            if answer.raised:
                problems.append(answer.raised_problem(case.label))
                problems.extend(h for h in (hint(answer.raised) for hint in self.raised_hints) if h)
                break
            if answer.result.get("changed"):
                problems.append(msg.INPUT_MODIFIED.format(input=case.label, arg=f"number {answer.result['changed'][0]}"))
            problem = difference(case.label, case.expected_out, answer.result["out"],
                                 Tolerance.for_dtype(case.expected_out.dtype, scale=10))
            if problem:
                problems.append(msg.prefixed("forward output ", problem))
                out = unpack(answer.result["out"])
                problems.extend(h for h in (hint(case.runs[-1], out) for hint in self.out_hints) if h)
            got = answer.result["g_init"] + answer.result["g_call"]
            problems.extend(grad_problems(case.label, case.names, case.expected, got, self.hints, case.accumulated))
            if problems:
                break
        names = ", ".join(cases[0].names) if cases else ""
        return self.outcome(problems[:4], [msg.GRADS_PASSED.format(names=names, count=len(cases))])
