"""Training: an optimiser step judged on the state it leaves, and a training loop judged step for step and by what
the model learns (an outcome check: accuracy on held-out digits from a start the student cannot choose)."""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch
import torch.nn.functional as F

from checker import messages as msg
from checker.checks.base import CORRECTNESS, Check, Context
from checker.compare import Tolerance, difference, unpack
from checker.inputs import generator, randn

Step = Callable[[list, float], None]


def describe_params(params, lr: float) -> str:
    shapes = ", ".join(str(tuple(p.shape)) for p in params)
    return f"parameters of shapes {shapes}, lr={lr:g}"


@dataclasses.dataclass
class OptimizerStep(Check):
    """One step on parameters whose .grad is set, given as a generator (as model.parameters() is) and then as a
    list: each moves by -lr * grad in place (still a leaf that requires grad: the update is not recorded by
    autograd), and its .grad is zeroed, so that the next backward starts from zero."""

    name = "step"

    def run(self, ctx: Context):
        gen = generator(ctx.seed + 31)
        shapes = [(4, 3), (3,), (3, 2)]
        params = [randn(gen, *s) for s in shapes]
        params.append(randn(gen, 2, 2, dtype=torch.float64))
        grads = [randn(gen, *p.shape, dtype=p.dtype) for p in params]
        probe = [randn(gen, *p.shape, dtype=p.dtype) for p in params]
        lr = 0.05 + 0.01 * (ctx.seed % 7)
        where = describe_params(params, lr)
        answer = ctx.probe("optimizer_step", params=params, grads=grads, lr=lr, probe=probe)
        if answer.raised:
            problems = [answer.raised_problem(where)]
            if "leaf" in str(answer.raised.get("message", "")):
                problems.append(msg.HINT_STEP_NO_GRAD)
            return self.outcome(problems)
        r = answer.result
        problems: list[str] = []
        for i, (p, g) in enumerate(zip(params, grads)):
            got = unpack(r["params"][i])
            problem = difference(f"parameter {i}", p - lr * g, r["params"][i], Tolerance.for_dtype(p.dtype, 10))
            if problem:
                problems.append(msg.STEP_WRONG.format(input=where, detail=problem))
                if got is not None and got.shape == p.shape and torch.allclose(got, p + lr * g, atol=1e-5):
                    problems.append(msg.HINT_STEP_SIGN)
                elif got is not None and got.shape == p.shape and torch.equal(got, p):
                    problems.append(msg.HINT_STEP_NOT_IN_PLACE if _kept(r["grads"][i]) else msg.HINT_STEP_ZEROED_FIRST)
                break
            if not r["leaf"][i]:
                problems += [msg.STEP_RECORDED.format(input=where, index=i), msg.HINT_STEP_NO_GRAD]
                break
            if _kept(r["grads"][i]):
                problems.append(msg.STEP_GRADS_KEPT.format(input=where, index=i))
                if not any(_kept(g) for g in r.get("second_grads", [])):  # zeroed when given a list
                    problems.append(msg.HINT_STEP_GENERATOR)
                break
            after = unpack(r["next_grads"][i])
            if after is None or after.shape != probe[i].shape or \
                    not torch.allclose(after, probe[i], rtol=1e-5, atol=1e-6):
                detail = "nothing" if after is None else "the sum of the old gradient and the new one" \
                    if after.shape == probe[i].shape and torch.allclose(after, probe[i] + grads[i], atol=1e-5) \
                    else "other values"
                problems.append(msg.STEP_NEXT_BACKWARD.format(input=where, index=i, detail=detail))
                break
        if not problems:  # a second call, from the next backward's grads: a step of its own
            for i, (p, g, c) in enumerate(zip(params, grads, probe)):
                problem = difference(f"parameter {i}", p - lr * g - lr * c, r["second"][i],
                                     Tolerance.for_dtype(p.dtype, 10))
                if problem:
                    problems.append(msg.STEP_WRONG.format(input=where + msg.SECOND_STEP, detail=problem))
                    break
        return self.outcome(problems)


def _kept(grad: dict) -> bool:
    """Whether a parameter's .grad after a step still holds something (None and zeros are both cleared)."""
    return not grad.get("missing") and (unpack(grad) is None or bool(unpack(grad).abs().max() > 0))


# -- the training loop -------------------------------------------------------------------------------------------
def init_weights(gen: torch.Generator, sizes: tuple[int, int, int]):
    """A two-layer network's weights (Kaiming for the ReLU, zero biases), as nn.Linear holds them."""
    n_in, nh, n_out = sizes
    w1 = randn(gen, nh, n_in) * math.sqrt(2 / n_in)
    w2 = randn(gen, n_out, nh) * math.sqrt(2 / nh)
    return [[w1, torch.zeros(nh)], [w2, torch.zeros(n_out)]]


def reference_fit(weights, batches, lr: float, epochs: int, variant: str = "") -> list[torch.Tensor]:
    """The same network trained in the grader with autograd.grad and torch's multi-tensor add (not the lesson's
    loop, which is the exercise): the parameters afterwards. ``variant`` is a classic mistake (``sign``,
    ``no_zero``, ``first_batch``, ``one_epoch``), for the hint that names it."""
    (w1, b1), (w2, b2) = weights
    params = [t.clone().requires_grad_(True) for t in (w1, b1, w2, b2)]
    rate = -lr if variant == "sign" else lr
    summed = None  # what a loop that never zeroes the gradients steps with: every gradient so far
    for _ in range(1 if variant == "one_epoch" else epochs):
        for xb, yb in (batches[:1] if variant == "first_batch" else batches):
            grads = list(torch.autograd.grad(F.cross_entropy(forward(params, xb), yb), params))
            if variant == "no_zero":
                summed = grads if summed is None else torch._foreach_add(summed, grads)
                grads = summed
            with torch.no_grad():
                torch._foreach_add_(params, grads, alpha=-rate)
    return [p.detach() for p in params]


def forward(params, x):
    return F.linear(F.linear(x, params[0], params[1]).clamp_min(0), params[2], params[3])


FIT_HINTS = (("sign", msg.HINT_FIT_SIGN), ("no_zero", msg.HINT_FIT_NO_ZERO), ("first_batch", msg.HINT_FIT_FIRST_BATCH),
             ("one_epoch", msg.HINT_FIT_ONE_EPOCH))


def _same(got: list, want: list, scale: float = 100) -> bool:
    return len(got) == len(want) and all(
        g is not None and g.shape == w.shape and torch.allclose(g, w, rtol=1e-4 * scale, atol=1e-5 * scale)
        for g, w in zip(got, want))


@dataclasses.dataclass
class TrainingSteps(Check):
    """fit on a few minibatches for two epochs (the checker's small network and F.cross_entropy): the parameters
    afterwards are the lesson loop's (every batch, in order, every epoch; the step's sign; gradients zeroed after
    each step)."""

    name = "steps"

    def run(self, ctx: Context):
        gen = generator(ctx.seed + 41)
        weights = init_weights(gen, (6, 5, 3))
        batches = [(randn(gen, 4, 6), torch.randint(0, 3, (4,), generator=gen)) for _ in range(3)]
        lr, epochs = 0.1, 2
        where = f"3 minibatches of 4 rows, a (6, 5, 3) network, lr={lr}, epochs={epochs}"
        answer = ctx.probe("training", weights=weights, batches=batches, lr=lr, epochs=epochs, eval_x=batches[0][0])
        if answer.raised:
            return self.outcome([answer.raised_problem(where)])
        got = [unpack(p) for p in answer.result["params"]]
        want = reference_fit(weights, batches, lr, epochs)
        if _same(got, want):
            return self.outcome([])
        names = ("first weight", "first bias", "second weight", "second bias")
        detail = next((problem for name, w, p in zip(names, want, answer.result["params"])
                       for problem in [difference(name, w, p, Tolerance.for_dtype(w.dtype, 100))] if problem),
                      "parameters differ")  # "on first weight: values differ ...", the parameter named once
        problems = [msg.FIT_PARAMETERS.format(input=where, detail=detail)]
        problems += [hint for variant, hint in FIT_HINTS if _same(got, reference_fit(weights, batches, lr, epochs,
                                                                                     variant))][:1]
        return self.outcome(problems)


@dataclasses.dataclass
class TrainingOutcome(Check):
    """fit trains the checker's network (nn.Sequential of Linear, ReLU, Linear, with F.cross_entropy) on the
    digits from a seeded start and batch order (other seeds in the hidden checks); the model then gets at least
    the bar of the held-out digits right."""

    # The bar is set from the reference over many seeds: its lowest accuracy (about 0.8) against the highest of
    # the classic mistakes (about 0.56): `make bench` prints both.

    bar: float = 0.70
    lr: float = 0.5
    epochs: int = 3
    batch: int = 50
    hidden: int = 32
    name = "learns"
    category = CORRECTNESS

    def run(self, ctx: Context):
        from checker.data import digits_split

        x_train, y_train, x_valid, y_valid = digits_split()
        gen = generator(ctx.seed + 53)
        weights = init_weights(gen, (x_train.shape[1], self.hidden, 10))
        order = torch.randperm(len(x_train), generator=gen)
        batches = [(x_train[order[i:i + self.batch]], y_train[order[i:i + self.batch]])
                   for i in range(0, len(x_train), self.batch)]
        where = (f"{len(x_train)} digits in minibatches of {self.batch} (seeded order), lr={self.lr}, "
                 f"epochs={self.epochs}")
        answer = ctx.probe("training", weights=weights, batches=batches, lr=self.lr, epochs=self.epochs,
                           eval_x=x_valid)
        if answer.raised:
            return self.outcome([answer.raised_problem(where)])
        out = unpack(answer.result["out"])
        if out is None or out.shape != (len(x_valid), 10):
            return self.outcome([msg.FIT_PARAMETERS.format(input=where, detail="the model's outputs could not be read")])
        accuracy = float((out.argmax(-1) == y_valid).float().mean())
        reference = float((forward(reference_fit(weights, batches, self.lr, self.epochs), x_valid).argmax(-1)
                           == y_valid).float().mean())
        if accuracy < self.bar:
            return self.outcome([msg.FIT_DID_NOT_LEARN.format(input=where, accuracy=accuracy, bar=self.bar,
                                                              reference=reference)])
        return self.outcome([], [msg.FIT_PASSED.format(accuracy=accuracy, bar=self.bar)])
