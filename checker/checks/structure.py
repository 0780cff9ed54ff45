"""Structure: classes that must have a given shape (Module, autograd Function, nn.Module)."""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch.nn import functional as F

from checker import messages as msg
from checker.checks.base import RULE, Check, Context
from checker.checks.operations import forbidden_in_traces, matching, unpublished_seed
from checker.checks.gradients import LayerCase, autograd_grads, grad_problems
from checker.checks.statistics import weight_problems
from checker.compare import Tolerance, difference, unpack
from checker.inputs import generator, label, randn


@dataclasses.dataclass
class Subclass(Check):
    base: str = "Module"
    name = "subclass"
    category = RULE

    def run(self, ctx: Context):
        answer = ctx.probe("subclass_of", base=self.base)
        if answer.raised or not answer.result["is_subclass"]:
            return self.outcome([msg.NOT_SUBCLASS.format(name=ctx.exercise.name, base=self.base)])
        return self.outcome([])


@dataclasses.dataclass
class ModuleBase(Check):
    """A bare Module's forward raises an error (NotImplementedError, or the lesson's Exception); a new subclass with
    forward and bwd works."""

    name = "base_class"

    def run(self, ctx: Context):
        gen = generator(ctx.seed + 7)
        x, out_g = randn(gen, 5, 3), randn(gen, 5, 3)
        pair = [(randn(gen, n, 2), randn(gen, n, 2), randn(gen, n, 2)) for n in (4, 6)]
        other = [randn(gen, 2, 3), randn(gen, 2, 3)]  # a second instance's call between the first's and its backward
        answer = ctx.probe("module_subclass", x=x, out_g=out_g, pair=[list(p) for p in pair], other=other)
        if answer.raised:
            return self.outcome([msg.SUBCLASS_BROKEN.format(detail=answer.raised_text())])
        if answer.result.get("returned_none"):
            return self.outcome([msg.CALL_RETURNED_NONE])
        problems = []
        where = label(("x",), (x,))
        problem = difference(where, x * x * x, answer.result["out"])
        if problem:
            problems.append(msg.SUBCLASS_BROKEN.format(detail=msg.prefixed("forward output ", problem)))
        problems += [msg.SUBCLASS_BROKEN.format(detail=p) for p in
                     grad_problems(where, ["x.g"], [3 * x * x * out_g], [answer.result["g"]])]
        problems += self.pair_problems(answer.result.get("pair", {}), pair[-1])
        shared = answer.result.get("interleaved")
        if shared is not None and not problems:
            if "raised" in shared:
                problems.append(msg.SUBCLASS_SHARED.format(detail=f"{shared['raised'].get('type')}: "
                                                                  f"{shared['raised'].get('message')}"))
            else:
                problems += [msg.SUBCLASS_SHARED.format(detail=p) for p in
                             grad_problems(where, ["x.g"], [3 * x * x * out_g], [shared])]
        if answer.result["base_forward"] == "returned":  # any error will do: the lesson's base raises Exception
            problems.append(msg.BASE_FORWARD.format(got="returned"))
        return self.outcome(problems)


    @staticmethod
    def pair_problems(result: dict, last: tuple) -> list[str]:
        """A subclass whose forward and bwd take two inputs (a * b): every argument reaches bwd, on each call."""
        a, b, g = last
        where = label(("a", "b"), (a, b)) + PAIR_CALLS
        if "raised" in result:
            r = result["raised"]
            return [msg.SUBCLASS_TWO_INPUTS.format(detail=f"{r.get('type')}: {r.get('message')}", input=where)]
        problem = difference(where, a * b, result.get("out"))
        if problem:
            return [msg.SUBCLASS_TWO_INPUTS.format(detail=msg.prefixed("forward output ", problem), input=where)]
        return [msg.SUBCLASS_TWO_INPUTS.format(detail=p, input=where)
                for p in grad_problems(where, ["a.g", "b.g"], [b * g, a * g], result.get("g", []))]


PAIR_CALLS = ", the second call (the first had 4 rows)"


@dataclasses.dataclass
class BackwardOps(Check):
    """The ops a layer's backward() calls, from a trace: none of ``forbidden``, no outer product."""

    case: Callable[[int], LayerCase]
    forbidden: frozenset = frozenset({"einsum", "outer", "ger", "addr", "kron", "tensordot", "bilinear"})
    why: str = "compute w.g as one matrix product, inp.t() @ out.g"
    # no tensor beyond this many times the largest of x, w and the output: the case has w the largest, so an outer
    # product over two rows (2 * n_in * n_out) is over it, however the batch is cut into chunks
    allocation_factor: float = 1.5
    name = "operations"
    category = RULE

    def run(self, ctx: Context):
        case = self.case(unpublished_seed())  # sizes drawn per call, as the memory rules' (no published shape)
        answer = ctx.probe("layer", about=case.label, fresh=True, init_args=list(case.init_args),
                           runs=[list(r) for r in case.runs], out_g=case.out_g, trace={})
        if answer.raised:
            return self.outcome([answer.raised_problem(case.label)])
        trace = answer.result["trace"]
        used = matching(trace["counts"], self.forbidden)
        problems = []
        if used:
            problems.append(msg.FORBIDDEN_OP.format(input=case.label, ops=", ".join(used), why=self.why))
        x, w = case.runs[-1][0], case.init_args[0]
        limit = int(self.allocation_factor * max(x.numel(), w.numel(), x.shape[0] * w.shape[1]) * x.element_size())
        if trace["largest_bytes"] > limit:
            problems.append(msg.LARGEST_ALLOCATION.format(
                input=case.label, shape=tuple(trace["largest_shape"]), size=f"{trace['largest_bytes']} bytes",
                bound="batch*n_in + n_in*n_out", limit=f"{limit} bytes"))
        grown = self._ops_for_twice_the_batch(ctx, case)
        if isinstance(grown, str):
            problems.append(grown)
        elif grown > trace["total"] * self.slack + 2:  # one product per row (addcmul_, an outer product each)
            problems.append(msg.OPS_GROW.format(name=ctx.exercise.name, dim="the rows of the batch",
                                                count=trace["total"], base=f"a batch of {x.shape[0]}", bigger=grown,
                                                grown=f"a batch of {2 * x.shape[0]}", expected=self.why))
        return self.outcome(problems)

    slack = 1.25

    def every_call(self, ctx: Context) -> list[str]:
        return forbidden_in_traces(ctx, self.forbidden, frozenset(), self.why)

    def _ops_for_twice_the_batch(self, ctx: Context, case: LayerCase):
        """The ops of forward and backward on the same rows twice over: as many as before, for one product."""
        x = case.runs[-1][0]
        answer = ctx.probe("layer", about=f"{case.label}, its rows twice", fresh=True, init_args=list(case.init_args),
                           runs=[(torch.cat([x, x]),)], out_g=torch.cat([case.out_g, case.out_g]), trace={})
        if answer.raised:
            return answer.raised_problem(case.label)
        return answer.result["trace"]["total"]


@dataclasses.dataclass
class AutogradFunction(Check):
    """MyRelu.apply: forward is relu, backward masks the gradient, gradcheck passes in float64."""

    name = "autograd_function"

    def run(self, ctx: Context):
        gen = generator(ctx.seed + 11)
        x = randn(gen, 6, 4)
        x = torch.where(x.abs() < 0.1, x.sign() * 0.2 + 0.05, x)  # away from the kink at 0...
        x[0, :3] = 0.0  # ...but for a few exact zeros, where the gradient is 0, as torch's relu has it
        grad_out = randn(gen, 6, 4)
        x64 = torch.where(x.abs() < 0.1, torch.full_like(x, 0.3), x).double()
        answer = ctx.probe("autograd_function", x=x, grad_out=grad_out, x64=x64)
        where = label(("x",), (x,), "with exact zeros")
        if answer.raised:
            return self.outcome([answer.raised_problem(where)])
        r = answer.result
        problems = []
        if r.get("grad_out_changed"):
            problems.append(msg.GRAD_OUTPUT_MODIFIED.format(input=where))
        problem = difference(where, x.clamp_min(0), r["out"])
        if problem:
            problems.append(msg.prefixed("forward output ", problem))
        # at exactly 0 either subgradient is right (the catalogue asks gradcheck, which stays off the kink):
        # torch's 0, or grad_out as PyTorch's own custom-ReLU tutorial computes it
        got = unpack(r["grad"]) if isinstance(r["grad"], dict) else None
        want = grad_out * (x > 0)
        if got is not None and got.shape == x.shape:
            want = torch.where((x == 0) & torch.isclose(got, grad_out), grad_out, want)
        problems += grad_problems(where, ["x.grad"], [want], [r["grad"]], hints=[_relu_mask_hint])
        if not r["gradcheck"]:
            detail = f": {r['gradcheck_error']}" if r.get("gradcheck_error") else ""
            problems.append(msg.GRADCHECK_FAILED.format(input=label(("x",), (x64,)), detail=detail))
        return self.outcome(problems)


def _relu_mask_hint(name, want, got):
    return msg.HINT_MYRELU_MASK


@dataclasses.dataclass
class LinearLayerCheck(Check):
    """Exactly weight (n_out, n_in) and bias (n_out) as Parameters, Kaiming weight, zero bias, F.linear."""

    sizes: tuple[int, int] = (300, 200)
    name = "layer"

    def run(self, ctx: Context):
        n_in, n_out = self.sizes
        x = randn(generator(ctx.seed + 13), 16, n_in)
        args = f"{n_in}, {n_out}"
        bias = randn(generator(ctx.seed + 14), n_out)
        answer = ctx.probe("nn_module", init_args=[n_in, n_out], call_args=[x], seed=ctx.child_seed(17), bias=bias)
        where = label(("x",), (x,))
        if answer.raised:
            return self.outcome([answer.raised_problem(where)])
        r = answer.result
        expected_params = [["weight", [n_out, n_in], True], ["bias", [n_out], True]]
        if r["parameters"] != expected_params:
            got = [f"{n} {tuple(s)}{'' if p else ' (not a Parameter)'}" for n, s, p in r["parameters"]] or "none"
            return self.outcome([msg.PARAMETERS_WRONG.format(name=ctx.exercise.name, args=args, got=got,
                                                             expected="weight (n_out, n_in), bias (n_out,)")])
        weight, bias, bias_set = unpack(r["weight"]), unpack(r["bias"]), bias
        problems = []
        if bias is not None and float(bias.abs().max()) != 0.0:
            problems.append(msg.BIAS_NOT_ZERO.format(name=ctx.exercise.name, args=args, got=float(bias.abs().max())))
        problems += weight_problems(f"{ctx.exercise.name}.weight", n_in, n_out, weight, (2 / n_in) ** 0.5,
                                    "sqrt(2/n_in)", [(lambda i, o: (2 / o) ** 0.5, msg.HINT_KAIMING_FAN_OUT),
                                                     (lambda i, o: (1 / i) ** 0.5, msg.HINT_KAIMING_NO_TWO)],
                                    gaussian=False)  # kaiming_uniform_(nonlinearity='relu') is Kaiming too
        problem = difference(where, F.linear(x, weight, bias), r["out"])
        if problem:
            problems.append(msg.prefixed("forward output ", problem))
        elif weight is not None and "out_with_bias" in r:
            problem = difference(where + " with a nonzero bias", F.linear(x, weight, bias_set), r["out_with_bias"])
            if problem:
                problems.append(msg.prefixed("forward output ", problem))
        return self.outcome(problems)


@dataclasses.dataclass
class TorchModelCheck(Check):
    """nn.Sequential(Linear, ReLU, Linear) registered; forward(x, targ) is the mse loss; backward works."""

    sizes: tuple[int, int, int] = (20, 12, 1)
    loss_hints: tuple[Callable, ...] = ()  # (the model's output and targ, the loss got) -> a hint or None
    name = "model"

    def run(self, ctx: Context):
        n_in, nh, n_out = self.sizes
        gen = generator(ctx.seed + 19)
        x, targ = randn(gen, 32, n_in), randn(gen, 32)
        first = [randn(gen, 7, n_in), randn(gen, 7)]  # a first batch of another size: the model keeps nothing of it
        args = f"{n_in}, {nh}, {n_out}"
        answer = ctx.probe("nn_module", init_args=[n_in, nh, n_out], call_args=[x, targ], backward=True,
                           seed=ctx.seed + 23, first_call_args=first)
        where = label(("x", "targ"), (x, targ)) + msg.AFTER_ANOTHER_CALL.format(name="x", shape=tuple(first[0].shape))
        if answer.raised:
            return self.outcome([answer.raised_problem(where)])
        r = answer.result
        kinds = [kind for _, kind in r["modules"]]
        if not kinds[1:]:  # layers in a plain list or dict: nothing registered
            return self.outcome([msg.MODULES_NONE_REGISTERED.format(name=ctx.exercise.name, args=args)])
        # nn.ModuleList registers them too (the notebook says so); forward then calls each in turn
        if not {"Sequential", "ModuleList"} & set(kinds) or \
                [k for k in kinds if k in ("Linear", "ReLU")] != ["Linear", "ReLU", "Linear"]:
            return self.outcome([msg.MODULES_WRONG.format(name=ctx.exercise.name, args=args, got=kinds[1:])])
        (w1, b1), (w2, b2) = [[unpack(p) for p in pair] for pair in r["linears"]]

        def forward(w1_, b1_, w2_, b2_):
            return F.mse_loss(F.linear(F.linear(x, w1_, b1_).clamp_min(0), w2_, b2_).squeeze(-1), targ)

        loss, grads = autograd_grads(forward, [w1, b1, w2, b2], wrt=[0, 1, 2, 3])
        problems = []
        problem = difference(where, loss, r["out"], Tolerance.for_dtype(loss.dtype, scale=10))
        if problem:
            problems.append(msg.prefixed("loss ", problem))
            output = F.linear(F.linear(x, w1, b1).clamp_min(0), w2, b2)
            problems.extend(h for h in (hint((output, targ), unpack(r["out"])) for hint in self.loss_hints) if h)
        got = dict((name, packed) for name, packed in r["grads"])
        for name, packed in got.items():
            if packed.get("missing"):
                problems.append(msg.NO_BACKWARD_GRAD.format(param=name))
        linear_names = [n for n, _, _ in [(p[0], p[1], p[2]) for p in r["parameters"]]]
        if not problems and len(linear_names) == 4:
            problems += grad_problems(where, [f"{n}.grad" for n in linear_names], grads,
                                      [got[n] for n in linear_names])
        return self.outcome(problems)
