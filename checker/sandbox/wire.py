"""The messages between the grader and the process that runs student code, as plain data written with ``marshal``.

That process writes its answers after student code has run in it. Nothing on the way from an answer to the pipe
may be code a notebook can replace: ``torch.save`` runs ``torch.serialization``'s and ``pickle``'s Python functions,
looked up in their modules at every call, and a cell that replaced one of them (by a spelling no reading of the
source resolves) rewrote answers before they were sealed, trace and tampering records included. So every function
this module uses is bound when it is imported, before any student code runs: C functions (``marshal``, a tensor's
own methods taken from ``torch._C.TensorBase``, numpy's ``tobytes``), builtins, and its own walk over a message,
which accepts exact types only (a ``str`` or ``dict`` subclass of hers would run her code when read) and runs with
torch functions and Python dispatch off (a torch mode she left on would see, and could change, what is written).

The grader reads back only what ``marshal`` reads (data, no code; the seal is checked before) and builds tensors
from their bytes. Tensors, lists, tuples, dicts, ``torch.Size``, ``torch.dtype``, ``None``, ``bool``, ``int``,
``float``, ``complex``, ``str`` and ``bytes`` travel; anything else is a :class:`WireError`.
"""
from __future__ import annotations

import marshal

import numpy
import torch

_dumps, _loads = marshal.dumps, marshal.loads
_type, _isinstance, _str, _str_copy, _bytearray = type, isinstance, str, str.__str__, bytearray
_tuple, _list, _dict, _int = tuple, list, dict, int
_TensorBase = torch._C.TensorBase
_detach, _clone, _view, _reshape, _resolve_conj, _resolve_neg, _numpy = (
    _TensorBase.detach, _TensorBase.clone, _TensorBase.view, _TensorBase.reshape, _TensorBase.resolve_conj,
    _TensorBase.resolve_neg, _TensorBase.numpy)
_dense = torch.contiguous_format
_dtype_of = _TensorBase.__dict__["dtype"].__get__
_shape_of = _TensorBase.__dict__["shape"].__get__
_layout_of = _TensorBase.__dict__["layout"].__get__
_to_bytes = numpy.ndarray.tobytes
_frombuffer, _empty = torch.frombuffer, torch.empty
_no_torch_function, _no_python_dispatch = torch._C.DisableTorchFunction, torch._C._DisableTorchDispatch
_uint8, _strided, _Size, _dtype = torch.uint8, torch.strided, torch.Size, torch.dtype
_TENSORS = (torch.Tensor, torch.nn.Parameter)
DTYPES = {str(d): d for d in vars(torch).values() if _type(d) is _dtype}  # "torch.float32" -> torch.float32

TUPLE, SIZE, DTYPE, TENSOR = "\0tuple", "\0size", "\0dtype", "\0tensor"  # every tuple on the wire starts with one
_PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes})


class WireError(TypeError):
    """A value that does not travel (only data does), or bytes that are not a message."""

    def __init__(self, what: str):
        super().__init__(f"cannot send or read {what} between the checker's processes")
        self.what = what


def _tensor(t) -> tuple:
    if _layout_of(t) != _strided:
        raise WireError(f"a {_layout_of(t)} tensor")
    flat = _view(_clone(_resolve_neg(_resolve_conj(_detach(t))), memory_format=_dense), -1)  # fresh, dense strides
    return (TENSOR, _str(_dtype_of(t)), _tuple(_shape_of(t)), _to_bytes(_numpy(_view(flat, _uint8))))


def _out(value):
    kind = _type(value)
    if kind in _PLAIN:
        return value
    if kind in _TENSORS:
        return _tensor(value)
    if kind is _list:
        return [_out(v) for v in value]
    if kind is _tuple:
        return (TUPLE, *[_out(v) for v in value])
    if kind is _dict:
        return {_out(k): _out(v) for k, v in _dict.items(value)}
    if kind is _Size:
        return (SIZE, *[_int(v) for v in value])
    if kind is _dtype:
        return (DTYPE, _str(value))
    if _isinstance(value, _str):  # a str of a subclass (a repr she returned): its characters, read by C
        return _str_copy(value)
    raise WireError(f"a {kind.__name__}")


def encode(obj) -> bytes:
    """``obj`` as marshal bytes, with nothing of a notebook's on the way."""
    with _no_torch_function(), _no_python_dispatch():
        return _dumps(_out(obj))


def _in(value):
    kind = _type(value)
    if kind is _list:
        return [_in(v) for v in value]
    if kind is _dict:
        return {_in(k): _in(v) for k, v in value.items()}
    if kind is not _tuple:
        if kind not in _PLAIN:
            raise WireError(f"a {kind.__name__}")
        return value
    if not value or value[0] not in (TUPLE, SIZE, DTYPE, TENSOR):
        raise WireError("an untagged tuple")
    tag, rest = value[0], value[1:]
    if tag == TUPLE:
        return _tuple(_in(v) for v in rest)
    if tag == SIZE:
        return _Size(rest)
    if tag == DTYPE:
        return DTYPES[rest[0]]
    name, shape, data = rest
    dtype = DTYPES[name]
    if not data:
        return _empty(shape, dtype=dtype)
    return _reshape(_view(_frombuffer(_bytearray(data), dtype=_uint8), dtype), shape)


def decode(data: bytes):
    """What :func:`encode` wrote."""
    try:
        value = _loads(data)
    except (EOFError, ValueError, TypeError) as exc:
        raise WireError(f"bytes that are not a message ({exc})") from None
    with _no_torch_function(), _no_python_dispatch():
        try:
            return _in(value)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise WireError(f"a malformed value ({type(exc).__name__}: {exc})") from None
