"""03_backprop: gradients by hand, then layers as classes."""
from __future__ import annotations

import torch

from checker import messages as msg
from checker.checks.gradients import STALE, FunctionGradients, LayerCase, LayerGradients, autograd_grads
from checker.checks.operations import AUTOGRAD, LargestAllocation, NeverCalls, OpGrowth, Ops
from checker.checks.speed import SpeedBar
from checker.exercises.cases import around, pick
from checker.inputs import Case, build, generator, label, randn
from checker.registry import Exercise, Question

NOTEBOOK = "03_backprop"
NET_NAMES = ("inp", "targ", "w1", "b1", "w2", "b2")


def mse_value(out, targ):
    return (out.squeeze(-1) - targ).pow(2).mean()


def lin_value(x, w, b):
    return torch.addmm(b, x, w)


def network_loss(inp, targ, w1, b1, w2, b2):
    return mse_value(lin_value(lin_value(inp, w1, b1).clamp_min(0), w2, b2), targ)


# -- hints ------------------------------------------------------------------------------------
def bias_axis_hint(name, want, got):
    if name.startswith("b") and got is not None and got.shape != want.shape:
        return msg.HINT_BIAS_AXIS.format(shape=tuple(want.shape))
    return None


def weight_shape_hint(name, want, got):
    if name.startswith("w") and got is not None and got.shape != want.shape:
        return msg.HINT_W_TRANSPOSE.format(shape=tuple(want.shape))
    return None


def mean_hint(name, want, got):
    if got is not None and got.shape == want.shape and want.shape[0] > 1:
        n = want.shape[0]
        if torch.allclose(got.double(), want.double() * n, rtol=1e-3, atol=1e-6):
            return msg.HINT_MSE_GRAD_MEAN
    return None


def broadcast_grad_hint(name, want, got):
    """inp.g of shape (n, n) where (n, 1) was due: inp - targ broadcast, the mse's classic mistake."""
    if got is not None and want.dim() == 2 and want.shape[1] == 1 and want.shape[0] > 1 \
            and tuple(got.shape) == (want.shape[0], want.shape[0]):
        return msg.HINT_MSE_BROADCAST
    return None


MSE_HINTS = (mean_hint, broadcast_grad_hint)  # every exercise where the mse's gradient is written


def relu_hint(name, want, got):
    return msg.HINT_RELU_GRAD_MASK if got is not None and got.shape == want.shape else None


def backward_order_hint(raised: dict):
    """A layer's backward read an out.g no one had set: the model called its layers' backward out of order, or not
    the loss's first."""
    if raised.get("type") == "AttributeError" and "attribute 'g'" in str(raised.get("message", "")):
        return msg.HINT_BACKWARD_ORDER
    return None


def relu_value(x):
    return torch.relu(x)  # autograd passes no gradient at exactly 0, as (inp > 0) does


# -- cases ------------------------------------------------------------------------------------
def mse_cases(seed: int) -> list[Case]:
    g = generator(seed)
    (n,) = pick(seed, (6,), low=2)
    specs = [("random", randn(g, n, 1), randn(g, n)), ("n = 1", randn(g, 1, 1), randn(g, 1)),
             ("float64", randn(g, 4, 1, dtype=torch.float64), randn(g, 4, dtype=torch.float64))]
    return [Case(label(("inp", "targ"), (i, t), note), (i, t), note) for note, i, t in specs]


def relu_cases(seed: int) -> list[Case]:
    g = generator(seed)
    r, c = pick(seed, (4, 5))
    specs = []
    for note, inp in (("random", randn(g, r, c)), ("exact zeros", torch.zeros(2, 3)),
                      ("float64", randn(g, 3, 4, dtype=torch.float64))):
        out = inp.clamp_min(0)
        specs.append(Case(label(("inp", "out"), (inp, out), note), (inp, out), note))
    return specs


def relu_out_g(case: Case) -> dict:
    inp = case.args[0]
    return {1: randn(generator(inp.numel()), *inp.shape, dtype=inp.dtype)}


def lin_cases(seed: int, sizes=None) -> list[Case]:
    g = generator(seed)
    n, i, o = pick(seed, (6, 4, 3))
    shapes = [("random", n, i, o, torch.float32), ("one row", 1, 5, 2, torch.float32),
              ("one output", 7, 3, 1, torch.float32), ("float64", 4, 3, 5, torch.float64)]
    out = []
    for note, n, i, o, dtype in shapes:
        inp, w, b = randn(g, n, i, dtype=dtype), randn(g, i, o, dtype=dtype), randn(g, o, dtype=dtype)
        args = (inp, inp @ w + b, w, b)
        out.append(Case(label(("inp", "out", "w", "b"), args, note), args, note))
    return out


def lin_out_g(case: Case) -> dict:
    out = case.args[1]
    return {1: randn(generator(out.numel() + 1), *out.shape, dtype=out.dtype)}


def lin_expected(case: Case):
    inp, _, w, b = case.args
    out_g = lin_out_g(case)[1]
    _, grads = autograd_grads(lin_value, [inp, w, b], wrt=[0, 1, 2], out_grad=out_g)
    return None, grads


def big_lin_case(seed: int) -> Case:
    """No tensor larger than w (n_in, n_out): batch <= n_out and batch <= n_in. An outer product over two rows of
    the batch is then larger than anything an honest backward allocates, however the batch is cut into chunks
    (only a loop over single rows stays under it)."""
    g = generator(seed + 9)
    sizes = around(seed, {"batch": 32, "n_in": 64, "n_out": 32})
    batch = min(sizes["batch"], sizes["n_in"], sizes["n_out"])
    inp, w, b = randn(g, batch, sizes["n_in"]), randn(g, sizes["n_in"], sizes["n_out"]), randn(g, sizes["n_out"])
    args = (inp, inp @ w + b, w, b)
    return Case(label(("inp", "out", "w", "b"), args), args)


def lin_of_size(seed: int, dims) -> Case:
    """lin_grad on a batch of ``n`` rows (the loop rule doubles it)."""
    g = generator(seed + 41)
    inp, w, b = randn(g, dims["n"], 8), randn(g, 8, 4), randn(g, 4)
    args = (inp, inp @ w + b, w, b)
    return Case(label(("inp", "out", "w", "b"), args), args)


def network_cases(seed: int) -> list[Case]:
    out = []
    for note, params in (("random", dict(batch=16, n_in=10, nh=6)), ("one row", dict(batch=1, n_in=4, nh=3)),
                         ("float64", dict(batch=8, n_in=5, nh=4, dtype="float64"))):
        if seed:
            params.update(zip(("batch", "n_in", "nh"), pick(seed, (16, 10, 6), low=2, high=12)))
        args = build({"kind": "mlp", "seed": seed + 31, "params": params})
        out.append(Case(label(NET_NAMES, args, note), args, note))
    return out


def network_of_size(seed: int, dims) -> Case:
    """forward_and_backward on a batch of ``n`` rows (the loop rule doubles it)."""
    args = build({"kind": "mlp", "seed": seed + 53, "params": dict(batch=dims["n"], n_in=10, nh=6)})
    return Case(label(NET_NAMES, args), args)


def network_expected(case: Case):
    loss, grads = autograd_grads(network_loss, list(case.args), wrt=[0, 2, 3, 4, 5])
    return loss, grads


# -- layer classes ----------------------------------------------------------------------------
AFTER_ANOTHER = msg.AFTER_ANOTHER


def another(t: torch.Tensor, seed: int) -> torch.Tensor:
    """Other values, one more row: what a layer sees on its next call (a cached mask or shape shows)."""
    return randn(generator(seed + t.numel() + 101), t.shape[0] + 1, *t.shape[1:], dtype=t.dtype)


def relu_layer_cases(seed: int) -> list[LayerCase]:
    """Each case follows a first call on another x: the layer computes everything afresh on every call, and
    sets x.g afresh rather than adding to it (a second run on the same object would hide a cached mask)."""
    out = []
    for case in relu_cases(seed):
        inp = case.args[0]
        out_g = relu_out_g(case)[1]
        first = another(inp, seed)
        first_g = randn(generator(seed + 7), *first.shape, dtype=inp.dtype)
        _, grads = autograd_grads(relu_value, [inp], wrt=[0], out_grad=out_g)
        out.append(LayerCase(label(("x",), (inp,), case.note) + AFTER_ANOTHER.format(name="x", shape=tuple(first.shape)),
                             (), [(first,), (inp,)], [first_g, out_g], (), (0,),
                             ["x.g"], inp.clamp_min(0), grads, [grads[0] + STALE]))
    return out


def lin_layer_cases(seed: int) -> list[LayerCase]:
    """A first batch of another size through the same layer, then the checked one: w.g and b.g must be the
    checked batch's, not the sum of both, and nothing of the first batch may be kept."""
    out = []
    for case in lin_cases(seed):
        inp, _, w, b = case.args
        out_g = lin_out_g(case)[1]
        first = another(inp, seed)
        first_g = randn(generator(seed + 19), first.shape[0], w.shape[1], dtype=inp.dtype)
        _, first_grads = autograd_grads(lin_value, [first, w, b], wrt=[0, 1, 2], out_grad=first_g)
        value, grads = autograd_grads(lin_value, [inp, w, b], wrt=[0, 1, 2], out_grad=out_g)
        out.append(LayerCase(label(("x", "w", "b"), (inp, w, b), case.note)
                             + AFTER_ANOTHER.format(name="x", shape=tuple(first.shape)),
                             (w, b), [(first,), (inp,)], [first_g, out_g], (0, 1), (0,), ["w.g", "b.g", "x.g"], value,
                             [grads[1], grads[2], grads[0]],
                             [first_grads[1] + grads[1], first_grads[2] + grads[2], grads[0] + STALE]))
    return out


def big_lin_layer_case(seed: int) -> LayerCase:
    """The layer on lin_grad's large case: an outer product in backward shows in its largest allocation."""
    inp, _, w, b = big_lin_case(seed).args
    out_g = randn(generator(seed + 23), inp.shape[0], w.shape[1])
    value, grads = autograd_grads(lin_value, [inp, w, b], wrt=[0, 1, 2], out_grad=out_g)
    return LayerCase(label(("x", "w", "b"), (inp, w, b)), (w, b), [(inp,)], out_g, (0, 1), (0,),
                     ["w.g", "b.g", "x.g"], value, [grads[1], grads[2], grads[0]])


def mse_layer_cases(seed: int) -> list[LayerCase]:
    """After a first batch of another size: the loss keeps nothing of it (its shapes, its targets)."""
    out = []
    for case in mse_cases(seed):
        inp, targ = case.args
        first, first_targ = another(inp, seed), another(targ, seed + 1)
        value, grads = autograd_grads(mse_value, [inp, targ], wrt=[0])
        out.append(LayerCase(case.label + AFTER_ANOTHER.format(name="inp", shape=tuple(first.shape)), (),
                             [(first, first_targ), (inp, targ)], None, (), (0,), ["inp.g"],
                             value, grads, [grads[0] + STALE]))
    return out


def model_cases(seed: int) -> list[LayerCase]:
    out = []
    for first, second in zip(network_cases(seed), network_cases(seed + 1000)):
        x1, t1, w1, b1, w2, b2 = first.args
        x2, t2 = second.args[0][:, :x1.shape[1]], second.args[1]
        if x2.shape[1] != x1.shape[1]:
            continue
        _, g1 = autograd_grads(network_loss, [x1, t1, w1, b1, w2, b2], wrt=[2, 3, 4, 5, 0])
        loss, g2 = autograd_grads(network_loss, [x2, t2, w1, b1, w2, b2], wrt=[2, 3, 4, 5, 0])
        accumulated = [a + b for a, b in zip(g1[:4], g2[:4])] + [g2[4] + STALE]
        out.append(LayerCase(f"{first.label}, then a second batch x {tuple(x2.shape)}", (w1, b1, w2, b2),
                             [(x1, t1), (x2, t2)], None, (0, 1, 2, 3), (0,),
                             ["w1.g", "b1.g", "w2.g", "b2.g", "x.g"], loss, g2, accumulated))
    return out


def mnist_spec(seed: int) -> dict:
    return {"kind": "mlp", "seed": 300 + seed, "params": {"batch": 10000, "n_in": 784, "nh": 50}}


LAYER_HINTS = (bias_axis_hint, weight_shape_hint)
NET_GRADS = (0, 2, 3, 4, 5)  # forward_and_backward(inp, targ, w1, b1, w2, b2) sets .g on all but targ
NET_GRAD_NAMES = ("inp.g", "w1.g", "b1.g", "w2.g", "b2.g")
# the lesson's point in 03 and 04: every gradient written by hand (judged on every call the checks make)
BY_HAND = NeverCalls(frozenset({AUTOGRAD}), why="write every gradient yourself, no .backward() or torch.autograd",
                     name="by_hand")

ENTRIES = [
    Exercise("mse_grad", NOTEBOOK, 3.0, "inp.g, the gradient of mse w.r.t. its (n,1) input",
             checks=(FunctionGradients(mse_cases, lambda case: {}, (0,), ["inp.g"],
                                       lambda case: (None, autograd_grads(mse_value, list(case.args), wrt=[0])[1]),
                                       hints=MSE_HINTS), BY_HAND)),
    Exercise("relu_grad", NOTEBOOK, 2.0, "inp.g from out.g through a ReLU",
             checks=(FunctionGradients(relu_cases, relu_out_g, (0,), ["inp.g"],
                                       lambda case: (None, autograd_grads(relu_value, [case.args[0]],
                                                                          wrt=[0], out_grad=relu_out_g(case)[1])[1]),
                                       hints=(relu_hint,)), BY_HAND)),
    Exercise("lin_grad", NOTEBOOK, 4.0, "inp.g, w.g and b.g from out.g, without the outer product",
             checks=(FunctionGradients(lin_cases, lin_out_g, (0, 2, 3), ["inp.g", "w.g", "b.g"], lin_expected,
                                       hints=LAYER_HINTS),
                     LargestAllocation(big_lin_case,
                                       limit=lambda case: 3 * max(case.args[0].numel(), case.args[2].numel(),
                                                                  case.args[1].numel()) * 4 // 2,
                                       bound="batch*n_in + n_in*n_out",
                                       scenario=lambda case: ("call", {"args": list(case.args),
                                                                       "preset_g": lin_out_g(case)})),
                     OpGrowth(lin_of_size, {"n": 16}, {"n": "the rows of the batch"},
                              "w.g = inp.t() @ out.g is one product for the whole batch, not one per row",
                              lambda d: f"a batch of {d['n']} rows",
                              scenario=lambda case: ("call", {"args": list(case.args), "preset_g": lin_out_g(case)})),
                     BY_HAND)),
    Exercise("forward_and_backward", NOTEBOOK, 4.0, "lin-relu-lin-mse forward, then every .g by hand",
             checks=(FunctionGradients(network_cases, lambda case: {}, NET_GRADS, NET_GRAD_NAMES, network_expected,
                                       hints=LAYER_HINTS),
                     Ops(lambda seed: network_cases(seed + 77)[0], expected=network_loss, forbidden=frozenset({AUTOGRAD}),
                         why="write every gradient yourself, no .backward() or torch.autograd"),
                     # a loop over the batch's rows, a few rows a step, stays under the speed bar (round 20: 2.4x
                     # against 3x): counted here instead, on any machine
                     OpGrowth(network_of_size, {"n": 16}, {"n": "the rows of the batch"},
                              "each layer's forward and backward is a few products for the whole batch, not one per row",
                              lambda d: f"a batch of {d['n']} rows"),
                     # 3 rounds (each a forward and backward pass at the MNIST validation set's size): with
                     # two CPU hogs beside it, the lesson's code measured 0.83-1.15x and the outer-product
                     # backward 19.6-25x against the bar of 3x in 12 runs, the margins 5 rounds gave
                     SpeedBar(mnist_spec, NET_NAMES, "autograd_forward_backward",
                              "torch.autograd on the same network", bar=3.0, rounds=3, expected=network_loss,
                              grads=lambda *args: autograd_grads(network_loss, list(args), wrt=NET_GRADS)[1],
                              grad_of=NET_GRADS, grad_names=NET_GRAD_NAMES)),
             seconds=30, uses=("mse_grad", "lin_grad", "relu_grad")),
    Exercise("Relu", NOTEBOOK, 2.0, "ReLU layer class: __call__ remembers, backward sets inp.g",
             checks=(LayerGradients(relu_layer_cases, hints=(relu_hint,)), BY_HAND), uses=("relu_grad",)),
    Exercise("Lin", NOTEBOOK, 2.0, "linear layer class: backward sets inp.g, w.g, b.g",
             checks=(LayerGradients(lin_layer_cases, hints=LAYER_HINTS), BY_HAND), uses=("lin_grad",)),
    Exercise("Mse", NOTEBOOK, 2.0, "loss class: backward sets inp.g",
             checks=(LayerGradients(mse_layer_cases, hints=MSE_HINTS), BY_HAND), uses=("mse_grad",)),
    Exercise("Model", NOTEBOOK, 2.0, "Lin, Relu, Lin and Mse stacked; fresh gradients on every backward",
             checks=(LayerGradients(model_cases, hints=LAYER_HINTS, raised_hints=(backward_order_hint,)), BY_HAND),
             uses=("Lin", "Relu", "Mse")),
    Question("q_reverse_order", NOTEBOOK, 2.0,
             "Why does the backward pass visit the layers in the reverse order of the forward pass?"),
    Question("q_saved_inputs", NOTEBOOK, 2.0,
             "lin_grad needs the layer's input to compute w.g. What does that imply for memory when training a "
             "deep network, and why does the lesson store the gradients in `.g` rather than returning them?"),
]
