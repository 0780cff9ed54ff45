"""01_matmul: matrix multiplication from scratch."""
from __future__ import annotations

import torch

from checker import messages as msg
from checker.checks.operations import (DISTANCE, EINSUM, MATMUL_FAMILY, NORMS, REDUCTIONS, FullSizeCopies,
                                       NeverCalls, OpGrowth, Ops)
from checker.checks.loops_required import LoopsRequired
from checker.checks.speed import SpeedBar
from checker.checks.values import Raises, Values
from checker.compare import Tolerance
from checker.exercises import cases
from checker.inputs import Case, generator, label, randn
from checker.registry import Exercise, Question

NOTEBOOK = "01_matmul"
NO_MATMUL = "multiply with your own loops and broadcasting, not torch's matrix product"


def reference_matmul(a, b):
    return (a.double() @ b.double()).to(a.dtype)


def reference_batch_matmul(a, b):
    return torch.bmm(a.double(), b.double()).to(a.dtype)


def product_work(case: Case) -> int:
    """The multiply-adds of a @ b, batched or not: the result's entries times the inner dimension."""
    a, b = case.args
    return a.numel() // a.shape[-1] * b.shape[-1] * a.shape[-1]


def result_size(sizes) -> str:
    return f"a ({sizes['n']}, {sizes['k']}) @ b ({sizes['k']}, {sizes['m']}), a {sizes['n']}x{sizes['m']} result"


def batch_pairs(seed: int) -> list[Case]:
    g = generator(seed)
    bsz, n, k, m = cases.pick(seed, (2, 3, 4, 5), low=2)  # k = 1 sums nothing: einsum would do no work to judge
    specs = [
        ("random", randn(g, bsz, n, k), randn(g, bsz, k, m)),
        ("batch of one", randn(g, 1, 3, 4), randn(g, 1, 4, 2)),
        ("one row and one column", randn(g, 3, 1, 4), randn(g, 3, 4, 1)),
        ("non-contiguous views", randn(g, 2, 3, 4, layout="transposed"), randn(g, 2, 4, 3, layout="strided")),
        ("float64", randn(g, 2, 2, 3, dtype=torch.float64), randn(g, 2, 3, 2, dtype=torch.float64)),
    ]
    return [Case(label(("a", "b"), (a, b), note), (a, b), note) for note, a, b in specs]


def batch_of_size(seed, sizes) -> Case:
    g = generator(seed + 3)
    a, b = randn(g, sizes["B"], sizes["n"], sizes["k"]), randn(g, sizes["B"], sizes["k"], sizes["m"])
    return Case(label(("a", "b"), (a, b)), (a, b))


def vectors_of_size(seed, sizes) -> Case:
    g = generator(seed + 4)
    u, v = randn(g, sizes["n"]), randn(g, sizes["m"])
    return Case(label(("u", "v"), (u, v)), (u, v))


def images_of_size(seed, sizes) -> Case:
    g = generator(seed + 5)
    x = randn(g, sizes["N"], sizes["C"], sizes["H"], sizes["W"])
    mean, std = randn(g, sizes["C"]), randn(g, sizes["C"]).abs() + 0.5
    return Case(label(("x", "mean", "std"), (x, mean, std)), (x, mean, std))


def points_of_size(seed, sizes) -> Case:
    g = generator(seed + 6)
    x, y = randn(g, sizes["n"], sizes["d"]), randn(g, sizes["m"], sizes["d"])
    return Case(label(("x", "y"), (x, y)), (x, y))


def distance_tolerance(case: Case, expected) -> Tolerance:
    x, y = case.args
    scale = float((x.double() ** 2).sum(1).max() + (y.double() ** 2).sum(1).max())
    eps = torch.finfo(x.dtype).eps
    return Tolerance(rtol=1e-4 if x.dtype == torch.float32 else 1e-9, atol=16 * eps * scale + 1e-6)


def reference_sq_dists(x, y):
    return ((x.double()[:, None, :] - y.double()[None, :, :]) ** 2).sum(-1).to(x.dtype)


def normalize_channels_hint(case, expected, got):
    x, mean, std = case.args
    if x.shape[-1] == mean.shape[0] and got is not None and got.shape == expected.shape:
        wrong_axis = (x - mean) / std
        if torch.allclose(got.to(wrong_axis.dtype), wrong_axis, rtol=1e-4, atol=1e-5):
            return msg.HINT_NORMALIZE_CHANNELS_AXES
    if got is None and x.shape[-1] != mean.shape[0]:
        return msg.HINT_NORMALIZE_CHANNELS_AXES
    return None


def first(builder):
    return lambda seed: builder(seed)[0]


def again(builder):
    """The first case's shapes with fresh numbers."""
    return lambda seed: builder(seed + 77)[0]


def reference_norm(m):
    return m.double().pow(2).sum().sqrt().to(m.dtype)


def fresh_pair(seed: int) -> Case:
    """A shape no value case uses, with fresh numbers: a result cached by shape is not reused here."""
    return cases.pair_of_size(seed + 50, {"n": 5, "k": 7, "m": 3})


SMALL = {"n": 8, "k": 6, "m": 5}
ROWS = {"n": 16, "k": 8, "m": 10}

ENTRIES = [
    Exercise(
        "matmul_loops", NOTEBOOK, 2.0, "three nested Python loops over scalar entries",
        checks=(
            Values(cases.pairs, reference_matmul, names=("a", "b")),
            Raises(cases.mismatched_pairs),
            Ops(fresh_pair, expected=reference_matmul, forbidden=MATMUL_FAMILY | REDUCTIONS,
                allowed=frozenset({"fsum"}),  # math.fsum adds Python numbers, as the builtin sum does
                why=NO_MATMUL + "; loops over scalar entries, no tensor-level sums"),
            LoopsRequired(cases.pair_of_size, {"n": 3, "k": 3, "m": 3},
                          {"n": "the rows of a", "k": "the inner dimension", "m": "the columns of b"},
                          "three nested loops over scalar entries", result_size),
        ),
        seconds=20,
    ),
    Exercise(
        "matmul_elementwise", NOTEBOOK, 2.0, "two loops; the inner loop becomes an elementwise product and .sum()",
        checks=(
            Values(cases.pairs, reference_matmul, names=("a", "b")),
            Raises(cases.mismatched_pairs),
            Ops(fresh_pair, expected=reference_matmul, forbidden=MATMUL_FAMILY, why=NO_MATMUL),
            OpGrowth(cases.pair_of_size, SMALL, {"k": "the inner dimension"},
                     "one elementwise product and one sum per entry make a count that grows with the {n}x{m} entries only",
                     result_size),
            SpeedBar(lambda seed: {"kind": "matmul_pair", "seed": 100 + seed, "params": {"n": 4, "k": 256, "m": 5}},
                     ("a", "b"), "scalar_multiply_adds", "three nested loops of scalar multiply-adds", bar=0.2,
                     rounds=5, expected=reference_matmul),
        ),
        seconds=20,
    ),
    Exercise(
        "matmul_broadcast", NOTEBOOK, 3.0, "one loop over the rows of a; broadcasting does the rest",
        checks=(
            Values(cases.pairs, reference_matmul, names=("a", "b")),
            Ops(fresh_pair, expected=reference_matmul, forbidden=MATMUL_FAMILY, why=NO_MATMUL),
            OpGrowth(cases.pair_of_size, ROWS, {"m": "columns", "k": "the inner dimension"},
                     "one loop over the {n} rows makes a few ops per row, however many columns", result_size),
            SpeedBar(lambda seed: {"kind": "matmul_pair", "seed": 200 + seed, "params": {"n": 32, "k": 64, "m": 32}},
                     ("a", "b"), "one_broadcast_per_row", "one broadcast product and sum per row", bar=4.0,
                     rounds=9, expected=reference_matmul),
        ),
    ),
    Exercise(
        "matmul_einsum", NOTEBOOK, 2.0, "matrix product with torch.einsum",
        checks=(
            Values(cases.pairs, reference_matmul, names=("a", "b")),
            Ops(fresh_pair, expected=reference_matmul, forbidden=MATMUL_FAMILY | REDUCTIONS,
                allowed=frozenset({"einsum"}), why="use einsum only: the products and their sum are its work",
                required=frozenset({EINSUM}), required_why="Einstein summation", required_work=product_work),
            OpGrowth(cases.pair_of_size, SMALL, {"k": "the inner dimension"},
                     "one einsum call does every product and sum at once", result_size),
        ),
    ),
    Exercise(
        "batch_matmul", NOTEBOOK, 2.0, "(B,n,k) @ (B,k,m) -> (B,n,m) with einsum",
        checks=(
            Values(batch_pairs, reference_batch_matmul, names=("a", "b")),
            Ops(again(batch_pairs), expected=reference_batch_matmul, forbidden=MATMUL_FAMILY | REDUCTIONS,
                allowed=frozenset({"einsum"}), why="use einsum only: the products and their sum are its work",
                required=frozenset({EINSUM}), required_why="Einstein summation", required_work=product_work),
            OpGrowth(batch_of_size, {"B": 4, "n": 3, "k": 5, "m": 2}, {"B": "the batch"},
                     "one einsum call handles every batch element at once",
                     lambda s: f"a batch of {s['B']}"),
        ),
    ),
    Exercise(
        "frobenius_norm", NOTEBOOK, 2.0, "square root of the sum of squared entries, as a 0-d tensor",
        checks=(
            Values(cases.matrices, reference_norm, names=("m",)),
            Ops(again(cases.matrices), expected=reference_norm, forbidden=NORMS | MATMUL_FAMILY,
                why="build it from elementwise ops and sums"),
        ),
    ),
    Exercise(
        "outer", NOTEBOOK, 2.0, "outer product of two vectors by broadcasting",
        checks=(
            Values(cases.vectors, lambda u, v: torch.outer(u, v), names=("u", "v")),
            Ops(again(cases.vectors), expected=torch.outer, forbidden=MATMUL_FAMILY, why="broadcast with None or unsqueeze"),
            OpGrowth(vectors_of_size, {"n": 6, "m": 5}, {"n": "the entries of u", "m": "the entries of v"},
                     "broadcasting needs a fixed handful of ops whatever the lengths",
                     lambda s: f"vectors of {s['n']} and {s['m']}"),
        ),
    ),
    Exercise(
        "normalize_channels", NOTEBOOK, 3.0, "per-channel (x - mean) / std on (N,C,H,W) without copying mean",
        checks=(
            Values(cases.images, lambda x, m, s: (x - m[:, None, None]) / s[:, None, None],
                   names=("x", "mean", "std"), hints=(normalize_channels_hint,)),
            OpGrowth(images_of_size, {"N": 2, "C": 3, "H": 4, "W": 4},
                     {"N": "the images", "C": "the channels", "H": "the rows", "W": "the columns"},
                     "broadcasting needs a fixed handful of ops whatever the sizes",
                     lambda s: f"x of shape ({s['N']}, {s['C']}, {s['H']}, {s['W']})"),
            FullSizeCopies(lambda seed: images_of_size(seed, cases.around(seed, {"N": 4, "C": 3, "H": 16, "W": 16})),
                           size=lambda case: case.args[0].numel() * case.args[0].element_size(), allowed=2),
            NeverCalls(NORMS | MATMUL_FAMILY, why="subtract and divide by broadcasting, not a normalisation layer "
                                                  "or function, nor a product or a (grouped) convolution"),
        ),
    ),
    Exercise(
        "pairwise_sq_dists", NOTEBOOK, 3.0, "(n,d), (m,d) -> (n,m) squared Euclidean distances, never negative",
        checks=(
            Values(cases.point_sets, reference_sq_dists, names=("x", "y"), tolerance=distance_tolerance,
                   nonnegative=True),
            OpGrowth(points_of_size, {"n": 6, "m": 5, "d": 3},
                     {"n": "the points of x", "m": "the points of y", "d": "the coordinates"},
                     "no Python loops: a fixed handful of tensor ops",
                     lambda s: f"{s['n']} and {s['m']} points in {s['d']} dimensions"),
            NeverCalls(frozenset({DISTANCE}), why="build the distances from differences (or the expansion), "
                                                  "not a distance function"),
        ),
    ),
    Question("q_inner_dimensions", NOTEBOOK, 2.0,
             "Using your loop version, explain why a (n, k) matrix can only be multiplied by a (k, m) one: "
             "what would the innermost loop do if the two k differed?"),
    Question("q_broadcast_memory", NOTEBOOK, 2.0,
             "When `a[i, :, None] * b` broadcasts a column against a matrix, is the column copied k*m times "
             "in memory? Use `expand_as` and `stride()` to support your answer."),
]
