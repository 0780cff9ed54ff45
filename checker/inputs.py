"""Seeded inputs for the checks.

Everything here is deterministic given a seed, so the parent and the child can build
the same tensors independently (the child builds fresh ones for timing; the parent
rebuilds them to check the answers). A ``Case`` carries a label that names every
argument's shape and dtype, the way feedback quotes it.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch

VISIBLE_SEED = 0  # the visible checks' seed: their inputs are the ones students see; hidden checks use another
# Bound here, at import: the checker's process imports this before any student code runs, and builds a timed call's
# inputs there (checker.sandbox.scenarios.stage); a torch.randn she replaced afterwards, by any spelling, is not
# what builds them (it would see every input before the timing starts, and could compute the answer there, untimed)
_randn, _Generator = torch.randn, torch.Generator
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclasses.dataclass
class Case:
    label: str
    args: tuple
    note: str = ""


def generator(seed: int) -> torch.Generator:
    return _Generator().manual_seed(int(seed))


def randn(gen, *shape, dtype=torch.float32, layout: str = "contiguous"):
    """A normal tensor; ``layout="transposed"`` gives a non-contiguous view."""
    if layout == "transposed" and len(shape) >= 2:
        flipped = shape[:-2] + (shape[-1], shape[-2])
        return _randn(*flipped, generator=gen, dtype=dtype).transpose(-1, -2)
    if layout == "strided" and len(shape) >= 1:
        wide = _randn(*shape[:-1], shape[-1] * 2, generator=gen, dtype=dtype)
        return wide[..., ::2]
    return _randn(*shape, generator=gen, dtype=dtype)


def describe(value, name: str | None = None) -> str:
    if isinstance(value, torch.Tensor):
        text = f"{tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
        if value.dim() > 1 and not value.is_contiguous():
            text += " non-contiguous"
    else:
        text = repr(value)
    return f"{name} {text}" if name else text


def label(names, args, extra: str = "") -> str:
    text = ", ".join(describe(a, n) for n, a in zip(names, args))
    return f"{text} ({extra})" if extra else text


def renumbered(case: Case, seed: int) -> Case:
    """The same shapes, dtypes and signs with other numbers: a result remembered by input shapes is wrong here."""
    gen = generator(seed + 4242)
    args = tuple(a * (1 + 0.5 * (torch.rand(a.shape, generator=gen, dtype=a.dtype) - 0.5))
                 if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in case.args)
    return Case(f"{case.label.split(' (')[0]} (the first shapes again, other numbers)", args, "the first shapes again")


Builder = Callable[[torch.Generator], tuple]


def build(spec: dict[str, Any]):
    """Rebuild a generated input from its plain-data spec (sent across processes)."""
    maker = GENERATORS[spec["kind"]]
    return maker(generator(spec["seed"]), **spec.get("params", {}))


# Generators addressed by name, so that a spec crosses the process boundary as data.
def _matmul_pair(gen, n, k, m, dtype="float32"):
    dt = _DTYPES[dtype]
    return (randn(gen, n, k, dtype=dt), randn(gen, k, m, dtype=dt))


def _mlp(gen, batch, n_in, nh, dtype="float32"):
    dt = _DTYPES[dtype]
    x = randn(gen, batch, n_in, dtype=dt)
    targ = randn(gen, batch, dtype=dt)
    w1 = randn(gen, n_in, nh, dtype=dt) * (2 / n_in) ** 0.5
    b1 = randn(gen, nh, dtype=dt) * 0.5  # not zeros: + b and - b must give different answers
    w2 = randn(gen, nh, 1, dtype=dt) * (2 / nh) ** 0.5
    b2 = randn(gen, 1, dtype=dt) * 0.5
    return (x, targ, w1, b1, w2, b2)


GENERATORS: dict[str, Callable] = {
    "matmul_pair": _matmul_pair,
    "mlp": _mlp,
}
