"""02_forward: the forward pass and initialisation."""
from __future__ import annotations

import math

import torch

from checker import messages as msg
from checker.checks.operations import OpGrowth
from checker.checks.statistics import InitStatistics
from checker.checks.values import Values
from checker.exercises.cases import pick
from checker.inputs import Case, generator, label, randn
from checker.registry import Exercise, Question

NOTEBOOK = "02_forward"
INIT_SIZES = ((512, 300), (300, 512))


def normalize_cases(seed: int) -> list[Case]:
    g = generator(seed)
    r, c = pick(seed, (4, 5), low=2)  # the std of one entry is nan: no answer to compare
    x = randn(g, r, c) * 3 + 2
    specs = [
        ("0-d tensor statistics", x, x.mean(), x.std()),
        ("float statistics", randn(g, 3, 4), 0.25, 2.0),
        ("one row", randn(g, 1, 6), torch.tensor(0.5), torch.tensor(1.5)),
        ("non-contiguous view", randn(g, 4, 3, layout="transposed"), torch.tensor(-1.0), torch.tensor(0.5)),
        ("float64", randn(g, 3, 3, dtype=torch.float64), torch.tensor(0.1, dtype=torch.float64),
         torch.tensor(3.0, dtype=torch.float64)),
    ]
    return [Case(label(("x", "mean", "std"), (x, m, s), note), (x, m, s), note) for note, x, m, s in specs]


def lin_cases(seed: int) -> list[Case]:
    g = generator(seed)
    n, i, o = pick(seed, (4, 3, 2))
    specs = [
        ("random", randn(g, n, i), randn(g, i, o), randn(g, o)),
        ("one row", randn(g, 1, 5), randn(g, 5, 3), randn(g, 3)),
        ("one output", randn(g, 6, 4), randn(g, 4, 1), randn(g, 1)),
        ("non-contiguous views", randn(g, 5, 4, layout="transposed"), randn(g, 4, 3, layout="transposed"),
         randn(g, 3, layout="strided")),
        ("float64", randn(g, 3, 2, dtype=torch.float64), randn(g, 2, 4, dtype=torch.float64),
         randn(g, 4, dtype=torch.float64)),
    ]
    return [Case(label(("x", "w", "b"), (x, w, b), note), (x, w, b), note) for note, x, w, b in specs]


def activation_cases(seed: int) -> list[Case]:
    g = generator(seed)
    r, c = pick(seed, (4, 5))
    mixed = randn(g, r, c)
    mixed[0, 0] = 0.0
    specs = [
        ("positive, negative and exact zero", mixed),
        ("all negative", -randn(g, 3, 3).abs() - 0.1),
        ("a vector", randn(g, 7)),
        ("non-contiguous view", randn(g, 4, 3, layout="transposed")),
        ("float64", randn(g, 3, 4, dtype=torch.float64)),
    ]
    return [Case(label(("x",), (x,), note), (x,), note) for note, x in specs]


def activation_of_size(seed, sizes) -> Case:
    x = randn(generator(seed + 8), sizes["n"], sizes["m"])
    return Case(label(("x",), (x,)), (x,))


def mlp_cases(seed: int) -> list[Case]:
    g = generator(seed)
    n, i, h = pick(seed, (8, 5, 4))
    def net(n, i, h, dtype=torch.float32, layout="contiguous"):
        return (randn(g, n, i, dtype=dtype, layout=layout), randn(g, i, h, dtype=dtype), randn(g, h, dtype=dtype),
                randn(g, h, 1, dtype=dtype), randn(g, 1, dtype=dtype))
    specs = [
        ("random", net(n, i, h)),
        ("one row", net(1, 6, 3)),
        ("non-square", net(5, 2, 7)),
        ("non-contiguous input", net(4, 3, 5, layout="transposed")),
        ("float64", net(3, 4, 2, dtype=torch.float64)),
    ]
    names = ("x", "w1", "b1", "w2", "b2")
    return [Case(label(names, args, note), args, note) for note, args in specs]


def reference_mlp(x, w1, b1, w2, b2):
    return ((x @ w1 + b1).clamp_min(0) @ w2 + b2)


def mse_cases(seed: int) -> list[Case]:
    g = generator(seed)
    (n,) = pick(seed, (6,), low=2)
    specs = [
        ("random", randn(g, n, 1), randn(g, n)),
        ("n = 1", randn(g, 1, 1), randn(g, 1)),
        ("exact match", torch.ones(4, 1), torch.ones(4)),
        ("non-contiguous views", randn(g, 5, 2)[:, :1], randn(g, 5, layout="strided")),
        ("float64", randn(g, 3, 1, dtype=torch.float64), randn(g, 3, dtype=torch.float64)),
    ]
    return [Case(label(("output", "targ"), (o, t), note), (o, t), note) for note, o, t in specs]


def reference_mse(output, targ):
    return (output.double().squeeze(-1) - targ.double()).pow(2).mean().to(output.dtype)


def mse_broadcast_hint(case, expected, got):
    if got is None or got.shape != expected.shape:
        return None
    return broadcast_loss_hint(case.args, got)


def broadcast_loss_hint(args, got):
    """HINT_MSE_BROADCAST where ``got`` is the mean over (n, n) of output (n, 1) - targ (n,): for the mse function,
    the Mse layer's forward (its last call's args) and a model's loss (its output and targ)."""
    output, targ = args[:2]
    if got is None or got.numel() != 1 or output.dim() != 2 or output.shape[0] == 1:
        return None
    broadcast = (output.double() - targ.double()).pow(2).mean()
    if abs(float(got) - float(broadcast)) <= 1e-4 * abs(float(broadcast)) + 1e-6:
        return msg.HINT_MSE_BROADCAST
    return None


def reduced_hint(case, expected, got):
    """A result with one dimension of x fewer: torch.max(x, 0).values, a reduction along a dimension."""
    x = case.args[0]
    if got is None or x.dim() < 1 or got.dim() != x.dim() - 1:
        return None
    lost = {tuple(x.shape[:d] + x.shape[d + 1:]) for d in range(x.dim())}
    return msg.HINT_REDUCED if tuple(got.shape) in lost else None


VECTORISED = OpGrowth(activation_of_size, {"n": 6, "m": 5}, {"n": "rows", "m": "columns"},
                      "a vectorised activation needs a fixed handful of ops whatever the size",
                      lambda s: f"x of shape ({s['n']}, {s['m']})")

ENTRIES = [
    Exercise("normalize", NOTEBOOK, 1.0, "(x - mean) / std with scalar statistics",
             checks=(Values(normalize_cases, lambda x, m, s: (x - m) / s, names=("x", "mean", "std")),)),
    Exercise("lin", NOTEBOOK, 2.0, "x @ w + b with w of shape (n_in, n_out)",
             checks=(Values(lin_cases, lambda x, w, b: (x.double() @ w.double() + b.double()).to(x.dtype),
                            names=("x", "w", "b")),)),
    Exercise("relu", NOTEBOOK, 2.0, "max(x, 0), vectorised, input left unchanged",
             checks=(Values(activation_cases, lambda x: x.clamp_min(0), names=("x",), hints=(reduced_hint,)),
                     VECTORISED)),
    Exercise("shifted_relu", NOTEBOOK, 1.0, "relu(x) - 0.5",
             checks=(Values(activation_cases, lambda x: x.clamp_min(0) - 0.5, names=("x",)), VECTORISED),
             uses=("relu",)),
    Exercise("xavier_init", NOTEBOOK, 3.0, "Gaussian (n_in, n_out) weights with std 1/sqrt(n_in)",
             checks=(InitStatistics(INIT_SIZES, lambda i, o: 1 / math.sqrt(i), "1/sqrt(n_in)",
                                    hints=[(lambda i, o: 1 / math.sqrt(o), msg.HINT_XAVIER_FAN_OUT)]),)),
    Exercise("kaiming_init", NOTEBOOK, 3.0, "Gaussian (n_in, n_out) weights with std sqrt(2/n_in)",
             checks=(InitStatistics(INIT_SIZES, lambda i, o: math.sqrt(2 / i), "sqrt(2/n_in)",
                                    hints=[(lambda i, o: 1 / math.sqrt(i), msg.HINT_KAIMING_NO_TWO),
                                           (lambda i, o: math.sqrt(2 / o), msg.HINT_KAIMING_FAN_OUT)]),),
             uses=("xavier_init",)),
    Exercise("mlp_forward", NOTEBOOK, 3.0, "lin -> relu -> lin",
             checks=(Values(mlp_cases, reference_mlp, names=("x", "w1", "b1", "w2", "b2"),
                            tolerance=None),), uses=("lin", "relu")),
    Exercise("mse", NOTEBOOK, 4.0, "mean squared error of (n,1) output against (n,) targets, as a 0-d tensor",
             checks=(Values(mse_cases, reference_mse, names=("output", "targ"), hints=(mse_broadcast_hint,)),)),
    Question("q_activation_scale", NOTEBOOK, 2.0,
             "In the 50-layer experiment, what happens to the standard deviation of the activations with plain "
             "`torch.randn` weights, and why does dividing by sqrt(n_in) keep it near 1?"),
    Question("q_kaiming_two", NOTEBOOK, 2.0,
             "Why does Kaiming initialisation use sqrt(2/n_in) rather than sqrt(1/n_in) when each layer is "
             "followed by a ReLU?"),
    Question("q_mse_squeeze", NOTEBOOK, 2.0,
             "What goes wrong, silently, if `mse` computes `output - targ` with output of shape (n, 1) and targ "
             "of shape (n,)? Why squeeze only the last axis?"),
]
