"""Compare a student's tensor with the expected one and say precisely how they differ."""
from __future__ import annotations

import dataclasses

import torch

from checker import messages as msg


@dataclasses.dataclass(frozen=True)
class Tolerance:
    rtol: float = 1e-4
    atol: float = 1e-5

    @classmethod
    def for_dtype(cls, dtype: torch.dtype, scale: float = 1.0) -> "Tolerance":
        if dtype == torch.float64:
            return cls(rtol=1e-9 * scale, atol=1e-10 * scale)
        return cls(rtol=1e-4 * scale, atol=1e-5 * scale)


def scaled_tolerance(case, expected: torch.Tensor) -> Tolerance:
    """The dtype's tolerance with its absolute part scaled by the largest expected magnitude: right answers to
    maths that loses digits with the size of its inputs (a log-softmax of logits of 1e4, a sum of many terms)."""
    base = Tolerance.for_dtype(expected.dtype)
    finite = expected.detach()[torch.isfinite(expected.detach())] if expected.numel() else expected.detach()
    largest = float(finite.abs().max()) if finite.numel() else 1.0
    return Tolerance(base.rtol, base.atol * max(1.0, largest))


def input_scaled_tolerance(case, expected: torch.Tensor) -> Tolerance:
    """The dtype's tolerance with its absolute part at least a few units in the last place of the largest input:
    a right answer computed from logits of 1e4 in float32 (one ulp there is 1e-3) differs from the grader's by
    that much, whatever the size of the result (log-probabilities near 0, say)."""
    base = scaled_tolerance(case, expected)
    inputs = [a.detach() for a in case.args if isinstance(a, torch.Tensor) and a.is_floating_point() and a.numel()]
    largest = max((float(a[torch.isfinite(a)].abs().max()) for a in inputs if bool(torch.isfinite(a).any())),
                  default=0.0)
    return Tolerance(base.rtol, max(base.atol, 8 * torch.finfo(expected.dtype).eps * largest))


def narrowed(expected: torch.dtype, got: torch.dtype) -> bool:
    """A floating result of lower precision than expected (float32 for float64 inputs): right if its values are."""
    return expected.is_floating_point and got.is_floating_point and \
        torch.finfo(got).eps > torch.finfo(expected).eps


def widened(expected: torch.dtype, got: torch.dtype) -> bool:
    """A floating result of higher precision than expected (float64 for float32 inputs, after
    ``torch.set_default_dtype(torch.float64)``): right if its values are."""
    return expected.is_floating_point and got.is_floating_point and \
        torch.finfo(got).eps < torch.finfo(expected).eps


def precision_note(input_label: str, expected: torch.Tensor, packed: dict) -> str | None:
    """The note for a result that counts at another floating precision than expected, else None."""
    got = unpack(packed)
    if got is None:
        return None
    for other, template in ((narrowed, msg.DTYPE_NARROWED), (widened, msg.DTYPE_WIDENED)):
        if other(expected.dtype, got.dtype):
            return template.format(input=input_label, expected=dtype_name(expected.dtype), got=dtype_name(got.dtype))
    return None


def dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def unpack(packed: dict):
    """The tensor in a packed answer (an ordinary dense tensor of numbers in memory), or None."""
    got = packed.get("tensor") if isinstance(packed, dict) else None
    if type(got) is not torch.Tensor or got.is_nested or got.layout != torch.strided or got.device.type != "cpu" \
            or got.is_quantized:
        return None
    return got


def difference(input_label: str, expected: torch.Tensor, packed: dict, tol: Tolerance | None = None,
               check_dtype: bool = True) -> str | None:
    """None when ``packed`` holds a tensor equal to ``expected`` within tolerance, else the message."""
    got = unpack(packed)
    if got is None:
        return msg.NOT_A_TENSOR.format(input=input_label, type=packed.get("type", "?"), repr=packed.get("repr", "?"))
    if tuple(got.shape) != tuple(expected.shape):
        return msg.SHAPE_MISMATCH.format(input=input_label, expected=tuple(expected.shape), got=tuple(got.shape))
    tol = tol or Tolerance.for_dtype(expected.dtype)
    if check_dtype and got.dtype != expected.dtype:
        if widened(expected.dtype, got.dtype):  # more precise than asked: judged as asked
            return value_difference(input_label, expected, got, tol)
        if not narrowed(expected.dtype, got.dtype):
            return msg.DTYPE_MISMATCH.format(input=input_label, expected=dtype_name(expected.dtype),
                                             got=dtype_name(got.dtype))
        # judged at the precision the result has (a float32 sum of k products for float64 inputs)
        coarse = Tolerance.for_dtype(got.dtype, scale=10)
        tol = Tolerance(max(tol.rtol, coarse.rtol), max(tol.atol, coarse.atol))
    return value_difference(input_label, expected, got, tol)


def value_difference(input_label: str, expected: torch.Tensor, got: torch.Tensor, tol: Tolerance) -> str | None:
    want = expected.detach().to(torch.float64)
    have = got.detach().to(torch.float64)
    if want.numel() == 0:
        return None
    bad_numbers = ~torch.isfinite(have) & torch.isfinite(want)
    if bad_numbers.any():
        flat = int(bad_numbers.flatten().nonzero()[0])
        index = _index(flat, want.shape)
        return msg.NAN_MISMATCH.format(input=input_label, index=index, want=float(want.flatten()[flat]))
    allowed = tol.atol + tol.rtol * want.abs()
    excess = (have - want).abs() - allowed
    flat = int(excess.flatten().argmax())
    if float(excess.flatten()[flat]) <= 0:
        return None
    return msg.VALUE_MISMATCH.format(input=input_label, index=_index(flat, want.shape),
                                     **_shown_apart(float(want.flatten()[flat]), float(have.flatten()[flat])),
                                     tol=float(allowed.flatten()[flat]))


def _shown_apart(want: float, got: float) -> dict[str, str]:
    """The two values with six significant digits, or as many more as it takes for them to read differently."""
    for digits in range(6, 18):
        shown = {"want": f"{want:.{digits}g}", "got": f"{got:.{digits}g}"}
        if shown["want"] != shown["got"]:
            return shown
    return {"want": repr(want), "got": repr(got)}


def _index(flat: int, shape) -> tuple[int, ...]:
    index = []
    for size in reversed(tuple(shape)):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))
