"""05_training: the loss, its gradient, the optimiser step and the training loop; a convolution from unfold."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from checker import messages as msg
from checker.checks.operations import AUTOGRAD, CONV, MATMUL, NLL, SOFTMAX, Ops
from checker.checks.training import OptimizerStep, TrainingOutcome, TrainingSteps
from checker.checks.values import Values
from checker.compare import input_scaled_tolerance, scaled_tolerance
from checker.exercises.cases import pick
from checker.inputs import Case, generator, label, randn
from checker.registry import Exercise, Question

NOTEBOOK = "05_training"


def _close(got, want, scale: float = 100) -> bool:
    return got is not None and want is not None and got.shape == want.shape and \
        bool(torch.isfinite(got).all()) and torch.allclose(got.double(), want.double(), rtol=1e-4 * scale,
                                                           atol=1e-5 * scale)


def _targets(g, n: int, c: int):
    return torch.randint(0, c, (n,), generator=g)


# -- log_softmax ----------------------------------------------------------------------------------------------------
def log_softmax_cases(seed: int) -> list[Case]:
    """Random logits, logits of 1e4 (exp overflows), very negative ones (exp underflows), one row, a wide row,
    a non-contiguous view, float64."""
    g = generator(seed + 100)
    n, c = pick(seed, (4, 5), low=2)
    specs = [("random", randn(g, n, c)),
             ("large logits (about 1e4)", randn(g, 3, 4) * 1e4),
             ("very negative logits", randn(g, 3, 4) - 1e4),
             ("one row", randn(g, 1, 6)),
             ("one class far above the others", torch.cat([randn(g, 2, 1) + 200, randn(g, 2, 3)], 1)),
             ("non-contiguous view", randn(g, 5, 3, layout="transposed")),
             ("float64", randn(g, 3, 4, dtype=torch.float64) * 50)]
    return [Case(label(("x",), (x,), note), (x,), note) for note, x in specs]


def log_softmax_expected(x):
    return F.log_softmax(x, dim=-1)


def unstable_hint(case, expected, got):
    if got is not None and got.shape == expected.shape and not bool(torch.isfinite(got).all()) and \
            bool(torch.isfinite(expected).all()) and not max_axis_hint(case, expected, got):
        return msg.HINT_SUBTRACT_MAX
    return None


def max_axis_hint(case, expected, got):
    """Each column's max subtracted (x.max(0)), where each row's is due: a shift that differs across a row's
    classes changes the result (and leaves large logits overflowing)."""
    x = case.args[0]
    if got is None or x.dim() != 2 or x.shape[0] < 2 or got.shape != x.shape:
        return None
    shifted = x.double() - x.double().max(0, keepdim=True).values
    wrong = shifted - shifted.exp().sum(-1, keepdim=True).log()
    same = torch.isclose(got.double(), wrong, rtol=1e-4, atol=1e-4, equal_nan=True) | \
        ((got.double() == wrong) & torch.isinf(wrong))
    return msg.HINT_MAX_AXIS if bool(same.all()) and not _close(got, expected) else None


def softmax_axis_hint(case, expected, got):
    x = case.args[0]
    if got is not None and x.dim() == 2 and x.shape[0] > 1 and _close(got, F.log_softmax(x, dim=0)):
        return msg.HINT_SOFTMAX_AXIS
    return None


# -- nll --------------------------------------------------------------------------------------------------------------
def nll_cases(seed: int) -> list[Case]:
    """Log-probabilities of random logits with integer targets: random, one row, many classes, float64."""
    g = generator(seed + 130)
    n, c = pick(seed, (5, 4), low=2)
    specs = [("random", n, c, torch.float32), ("one row", 1, 5, torch.float32), ("ten classes", 8, 10, torch.float32),
             ("float64", 4, 3, torch.float64)]
    out = []
    for note, rows, classes, dtype in specs:
        log_probs = F.log_softmax(randn(g, rows, classes, dtype=dtype) * 2, dim=-1)
        target = _targets(g, rows, classes)
        out.append(Case(label(("log_probs", "target"), (log_probs, target), note), (log_probs, target), note))
    return out


def nll_expected(log_probs, target):
    return F.nll_loss(log_probs, target)


def nll_index_hint(case, expected, got):
    log_probs, target = case.args
    if got is not None and log_probs.shape[0] > 1 and _close(got, -log_probs[:, target].mean()):
        return msg.HINT_NLL_INDEX
    return None


def nll_sign_hint(case, expected, got):
    return msg.HINT_NLL_SIGN if got is not None and _close(got, -expected) and float(expected.abs()) > 1e-6 else None


# -- cross_entropy_grad ---------------------------------------------------------------------------------------------
def cross_entropy_grad_cases(seed: int) -> list[Case]:
    """Random logits and targets, large logits, one row, float64."""
    g = generator(seed + 160)
    n, c = pick(seed, (6, 4), low=2)
    specs = [("random", randn(g, n, c), n, c), ("large logits (about 1e3)", randn(g, 4, 3) * 1e3, 4, 3),
             ("one row", randn(g, 1, 5), 1, 5), ("float64", randn(g, 5, 3, dtype=torch.float64), 5, 3)]
    out = []
    for note, logits, rows, classes in specs:
        target = _targets(g, rows, classes)
        out.append(Case(label(("logits", "target"), (logits, target), note), (logits, target), note))
    return out


def cross_entropy_grad_expected(logits, target):
    """By autograd, in the grader."""
    leaf = logits.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(leaf, target), [leaf])
    return grad


def ce_mean_hint(case, expected, got):
    n = case.args[0].shape[0]
    return msg.HINT_CE_GRAD_MEAN if n > 1 and got is not None and _close(got, expected * n) else None


def ce_one_hot_hint(case, expected, got):
    logits, _ = case.args
    softmax = F.softmax(logits, dim=-1)
    if got is not None and (_close(got, softmax / logits.shape[0]) or _close(got, softmax)):
        return msg.HINT_CE_ONE_HOT
    return None


# -- accuracy ---------------------------------------------------------------------------------------------------------
def accuracy_cases(seed: int) -> list[Case]:
    """Random outputs and targets, all right, none right, one row."""
    g = generator(seed + 190)
    n, c = pick(seed, (8, 5), low=2)
    out = randn(g, n, c)
    specs = [("random", out, _targets(g, n, c))]
    right = randn(g, 6, 4)
    specs.append(("every row right", right, right.argmax(-1)))
    specs.append(("no row right", right, (right.argmax(-1) + 1) % 4))
    single = randn(g, 1, 3)
    specs.append(("one row", single, single.argmax(-1)))
    return [Case(label(("out", "target"), (o, t), note), (o, t), note) for note, o, t in specs]


def accuracy_expected(out, target):
    return torch.eq(torch.argmax(out, 1), target).to(torch.float32).mean()


def accuracy_fraction_hint(case, expected, got):
    n = case.args[0].shape[0]
    return msg.HINT_ACCURACY_FRACTION if n > 1 and got is not None and got.numel() == 1 and \
        abs(float(got) - float(expected) * n) < 1e-4 and float(expected) > 0 else None


def accuracy_integer_hint(case, expected, got):
    """An accuracy rounded down by // (an integer tensor, or a float one floor-divided): not the count, which the
    fraction hint names."""
    if got is None or got.dtype.is_complex or got.numel() != 1 or accuracy_fraction_hint(case, expected, got):
        return None
    if got.dtype.is_floating_point:  # a float that is the fraction rounded down (0.375 -> 0.0)
        fraction = float(expected)
        return msg.HINT_ACCURACY_INTEGER.format(dtype=str(got.dtype).removeprefix("torch.")) \
            if fraction != int(fraction) and float(got) == int(fraction) else None
    return msg.HINT_ACCURACY_INTEGER.format(dtype=str(got.dtype).removeprefix("torch."))


# -- conv2d_unfold ---------------------------------------------------------------------------------------------------
def conv2d_unfold_cases(seed: int) -> list[Case]:
    """Images and kernels of several shapes; stride 1 and 2; with and without padding; one channel; float64."""
    g = generator(seed + 250)
    n, c = pick(seed, (2, 3), low=1, high=3)
    specs = [("random, stride 1", (n, c, 7, 6), (4, c, 3, 3), 1, 0),
             ("stride 2", (2, 2, 9, 8), (3, 2, 3, 3), 2, 0),
             ("padding 1", (1, 3, 5, 5), (2, 3, 3, 3), 1, 1),
             ("stride 2 and padding 1, a 2x3 kernel", (2, 1, 8, 7), (5, 1, 2, 3), 2, 1),
             ("float64", (1, 2, 6, 6), (2, 2, 3, 3), 1, 0)]
    out = []
    for note, xs, ws, stride, padding in specs:
        dtype = torch.float64 if note == "float64" else torch.float32
        x, w, b = randn(g, *xs, dtype=dtype), randn(g, *ws, dtype=dtype), randn(g, ws[0], dtype=dtype)
        args = (x, w, b, stride, padding)
        text = label(("x", "w", "b"), (x, w, b)) + f", stride={stride}, padding={padding} ({note})"
        out.append(Case(text, args, note))
    x, w, b = randn(g, 1, 2, 5, 6), randn(g, 3, 2, 2, 2), randn(g, 3)
    out.append(Case(label(("x", "w", "b"), (x, w, b), "stride and padding left out: 1 and 0"), (x, w, b),
                    "stride and padding left out"))
    return out


def conv2d_unfold_expected(x, w, b, stride=1, padding=0):
    return F.conv2d(x, w, b, stride=stride, padding=padding)


def conv_work(case: Case) -> int:
    """The multiply-adds of the convolution: each output entry sums channels x kernel rows x kernel columns."""
    w = case.args[1]
    out = conv2d_unfold_expected(*case.args)
    return out.numel() * w.shape[1] * w.shape[2] * w.shape[3]


def conv_size_hint(case, expected, got):
    return msg.HINT_CONV_SIZE if got is not None and got.shape != expected.shape else None


def conv_flipped_hint(case, expected, got):
    x, w, b, stride, padding = case.args
    flipped = F.conv2d(x, w.flip(-1, -2), b, stride=stride, padding=padding)
    return msg.HINT_CONV_FLIPPED if got is not None and _close(got, flipped) and not _close(got, expected) else None


def _first(cases):
    return lambda seed: cases(seed)[0]


ENTRIES = [
    Exercise("log_softmax", NOTEBOOK, 4.0, "log of softmax over rows, stable for logits of any size, by hand",
             checks=(Values(log_softmax_cases, log_softmax_expected, names=("x",), tolerance=input_scaled_tolerance,
                            hints=(unstable_hint, max_axis_hint, softmax_axis_hint)),
                     Ops(_first(log_softmax_cases), forbidden=frozenset({SOFTMAX}),
                         why="write the max shift, the exponentials and the log yourself", expected=log_softmax_expected))),
    Exercise("nll", NOTEBOOK, 3.0, "mean negative log-likelihood of integer targets, by indexing",
             checks=(Values(nll_cases, nll_expected, names=("log_probs", "target"), tolerance=scaled_tolerance,
                            hints=(nll_index_hint, nll_sign_hint)),
                     Ops(_first(nll_cases), forbidden=frozenset({NLL}), why="pick each row's target by indexing",
                         expected=nll_expected))),
    Exercise("cross_entropy_grad", NOTEBOOK, 4.0,
             "d mean cross-entropy / d logits by hand: softmax minus one-hot, over n",
             checks=(Values(cross_entropy_grad_cases, cross_entropy_grad_expected, names=("logits", "target"),
                            tolerance=input_scaled_tolerance,
                            hints=(ce_mean_hint, ce_one_hot_hint)),
                     Ops(_first(cross_entropy_grad_cases), forbidden=frozenset({AUTOGRAD, NLL}),
                         why="the gradient is written by hand, not taken from autograd or a loss",
                         expected=cross_entropy_grad_expected)),
             uses=("log_softmax",)),
    Exercise("accuracy", NOTEBOOK, 2.0, "fraction of rows whose argmax is the target",
             checks=(Values(accuracy_cases, accuracy_expected, names=("out", "target"),
                            hints=(accuracy_fraction_hint, accuracy_integer_hint), any_float=True),)),
    Exercise("sgd_step", NOTEBOOK, 3.0, "p -= lr * p.grad in place, not recorded by autograd; then zero the grads",
             checks=(OptimizerStep(),)),
    Exercise("fit", NOTEBOOK, 4.0, "the training loop: minibatches in order, judged by what the model learns",
             checks=(TrainingSteps(), TrainingOutcome()), seconds=30.0, uses=("sgd_step",)),
    Exercise("conv2d_unfold", NOTEBOOK, 2.0, "a 2D convolution from unfold and one matrix product (stretch)",
             checks=(Values(conv2d_unfold_cases, conv2d_unfold_expected, names=("x", "w", "b", "stride", "padding"),
                            tolerance=scaled_tolerance, hints=(conv_size_hint, conv_flipped_hint)),
                     Ops(_first(conv2d_unfold_cases), forbidden=frozenset({CONV}), required=frozenset({MATMUL}),
                         why="the convolution is the point: unfold, then a matrix product",
                         required_why="the patches times the kernels", required_work=conv_work,
                         expected=conv2d_unfold_expected))),
    Question("q_max_shift", NOTEBOOK, 2.0,
             "Why does log_softmax subtract each row's max before exponentiating, and why does that not change "
             "the result?"),
    Question("q_zero_grad", NOTEBOOK, 1.0,
             "Why must the gradients be zeroed after each step, and what happens to training if they are not?"),
]
