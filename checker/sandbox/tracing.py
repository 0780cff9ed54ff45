"""A record of the torch calls a piece of code makes.

``torch.overrides.TorchFunctionMode`` sees every call that goes through torch's Python
API: ``a @ b``, ``torch.einsum``, ``t.sum()``, indexing. We count the calls that return
a tensor (so ``.shape`` or ``.size()`` do not count), under a canonical name, and keep
the largest fresh allocation (a view such as ``expand`` allocates nothing) and the
distinct storages at least as large as a given size.
"""
from __future__ import annotations

import math

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from checker.sandbox import tripwire

_Tensor = torch.Tensor
# What the trace reads of a tensor and its storage, as torch keeps it: a class attribute put on torch.Tensor or
# torch.UntypedStorage by student code is never consulted (her code would run inside the checker's bookkeeping)
_untyped_storage = torch._C.TensorBase.untyped_storage
_needs_grad = torch._C.TensorBase.__dict__["requires_grad"].__get__
_is_complex = torch._C.TensorBase.is_complex
COMPLEX = "complex"  # the name a call is recorded under when it makes a complex tensor (its abs is a 2-norm)
_shape_getter = torch._C.TensorBase.__dict__["shape"].__get__


def _shape(t) -> tuple:
    """A tensor's shape, or () for one that has none to give (a nested tensor: torch raises on its sizes)."""
    try:
        return _shape_getter(t)
    except (RuntimeError, NotImplementedError):
        return ()
_address, _nbytes = torch._C.StorageBase.data_ptr, torch._C.StorageBase.nbytes
# the modes' own entry and exit, as torch defined them (a patch of the classes would switch the trace off)
_function_mode_enter, _function_mode_exit = TorchFunctionMode.__enter__, TorchFunctionMode.__exit__
_dispatch_mode_enter, _dispatch_mode_exit = TorchDispatchMode.__enter__, TorchDispatchMode.__exit__
_tuple = tuple
_torch_function_on = torch._C._is_torch_function_enabled  # off only while the checker's stand-ins run
NO_API_CALL = "no API call"
_started_elsewhere = tripwire.started_elsewhere
GRAPH = "autograd_graph"  # the name a call is recorded under when its result joins an autograd graph
# ops that call Python back (per element, or per pair): torch runs the callback with this mode switched off, so
# the callback is run with it switched on again, and each call of it counts (a Python loop by another name)
CALLBACK_OPS = frozenset({"map_", "map2_", "apply_"})
CALLBACK = "python_callback"
ACCUMULATING_PUTS = frozenset({"index_put_", "index_put", "put_", "put", "_index_put_impl_", "_unsafe_index_put"})
READ_ONLY = {"requires_grad": "requires_grad_read"}  # reading the flag computes nothing (setting it is autograd)
REDUCING_SCATTERS = frozenset({"scatter", "scatter_"})  # with reduce='add' or 'multiply': a sum (or product) by index
# what the trace computes itself when asked to scale a call's result (the required-op check): torch's own, bound here,
# run with torch functions and Python dispatch off (not traced, not a student's)
_mul = torch.mul
_no_torch_function, _no_python_dispatch = torch._C.DisableTorchFunction, torch._C._DisableTorchDispatch
_is_floating = torch._C.TensorBase.is_floating_point
_str = str


# ops that move or re-type data without computing on it: what they return still is the inputs (the required-op
# check counts a product as doing the work only on operands that are the exercise's inputs, so moved or retyped)
DATA_PRESERVING = frozenset({
    "view", "reshape", "view_as", "reshape_as", "transpose", "t", "T", "mT", "H", "mH", "permute", "movedim",
    "moveaxis", "swapaxes", "swapdims", "contiguous", "to", "double", "float", "half", "bfloat16", "type", "clone",
    "detach", "unfold", "pad", "expand", "expand_as", "broadcast_to", "unsqueeze", "squeeze", "flatten", "unflatten",
    "narrow", "select", "getitem", "as_strided", "split", "chunk", "unbind", "tensor_split", "resolve_conj",
    "resolve_neg", "cat", "concat", "concatenate", "stack", "requires_grad_", "cpu", "type_as", "ravel", "flip",
    "roll", "repeat", "tile", "repeat_interleave", "index_select", "gather", "take_along_dim"})
# ops that make a tensor from nothing of the call's inputs (numbers, a shape, Python values): no arithmetic on them
CREATES = frozenset({"tensor", "as_tensor", "asarray", "scalar_tensor", "zeros", "ones", "empty", "full", "zeros_like",
                     "ones_like", "empty_like", "full_like", "new_tensor", "new_zeros", "new_ones", "new_empty",
                     "new_full", "arange", "range", "linspace", "logspace", "eye", "frombuffer", "from_numpy"})
# writes of one tensor into another (``padded[:, :, 1:-1, 1:-1] = x``, ``out.copy_(x)``): the place of the source
_WRITES_INTO = {"setitem": 2, "copy_": 1}
# products whose contracted size is the last dimension of their first (or, after an added term, second) operand
_INNER_OF_FIRST = frozenset({"matmul", "mm", "bmm", "mv", "dot", "vdot", "inner", "linear"})
_INNER_OF_SECOND = frozenset({"addmm", "addbmm", "baddbmm", "addmv"})


def _numel(t) -> int:
    count = 1
    for size in _shape(t):
        count *= size
    return count


def _sizes(labels, shape) -> dict:
    """label -> size for one einsum operand (``'ik'``, ``'...k'`` or a sublist; an ellipsis takes the dimensions
    between what is named before and after it)."""
    if type(labels) is _str:
        head, dots, tail = labels.replace(" ", "").partition("...")
        head, tail = list(head), list(tail)
    elif Ellipsis in labels:
        at = labels.index(Ellipsis)
        head, dots, tail = list(labels[:at]), True, list(labels[at + 1:])
    else:
        head, dots, tail = list(labels), False, []
    if not dots:
        return dict(zip(head, shape))
    return dict(zip(head, shape[:len(head)])) | dict(zip(tail, shape[len(shape) - len(tail):] if tail else ()))


def _labels(labels) -> list:
    if type(labels) is _str:
        return [c for c in labels.replace("...", "") if c.isalpha()]
    return [x for x in labels if x is not Ellipsis]


def _einsum_summed(args) -> list[int]:
    """The sizes an einsum call sums over (the labels of its inputs that its output drops), in either form."""
    if args and type(args[0]) is _str:
        operands = list(_tensors_in(args[1:]))
        inputs, arrow, output = args[0].replace(" ", "").partition("->")
        inputs, output = inputs.split(","), (output if arrow else None)
    else:
        operands = [a for a in args[0::2] if isinstance(a, _Tensor)]
        subs = list(args[1::2])
        inputs, output = subs[:len(operands)], (subs[len(operands)] if len(subs) > len(operands) else None)
    sizes: dict = {}
    for labels, t in zip(inputs, operands):
        sizes.update(_sizes(labels, _tuple(_shape(t))))
    every = [x for labels in inputs for x in _labels(labels)]
    kept = set(_labels(output)) if output is not None else {x for x in every if every.count(x) == 1}
    return [size for label, size in sizes.items() if label not in kept]


def work(name: str, args, out) -> int:
    """The multiply-adds a product call did: its result's entries times the size it summed over (0 when it sums
    over nothing, or is not a product whose contraction the trace can size)."""
    try:
        tensors = list(_tensors_in(args))
        if name == "einsum":
            inner = 1
            for size in _einsum_summed(args):
                inner *= size
        elif name in _INNER_OF_FIRST and tensors and _shape(tensors[0]):
            inner = _shape(tensors[0])[-1]
        elif name in _INNER_OF_SECOND and len(tensors) > 1 and _shape(tensors[1]):
            inner = _shape(tensors[1])[-1]
        elif name == "tensordot" and len(tensors) > 1:  # no batch dimensions: a * b = out * inner ** 2
            inner = int(round(math.sqrt(_numel(tensors[0]) * _numel(tensors[1]) / max(_numel(out), 1))))
        else:
            return 0
        return _numel(out) * inner if inner > 1 else 0
    except (TypeError, ValueError, IndexError, AttributeError):
        return 0


def _accumulates(args, kwargs) -> bool:
    """``index_put_(indices, values, accumulate=True)``, ``put_(index, source, True)``: the flag, by name or place."""
    flag = (kwargs or {}).get("accumulate", args[3] if len(args) > 3 else False)
    return flag is True


def _reduces(args, kwargs) -> bool:
    """``scatter_(dim, index, src, reduce='add')``: the keyword, by name or place."""
    return (kwargs or {}).get("reduce", args[4] if len(args) > 4 else None) is not None


def canonical_name(func) -> str:
    packet = getattr(func, "overloadpacket", None)  # an aten overload called from Python: aten.mm.default is mm
    name = getattr(packet, "__name__", None) or getattr(func, "__name__", None) or repr(func)
    if name == "__get__":  # properties such as Tensor.T arrive as their getter
        owner = getattr(func, "__self__", None)
        name = getattr(owner, "__name__", None) or getattr(getattr(owner, "fget", None), "__name__", "property")
        name = READ_ONLY.get(name, name)
    elif name == "__set__":  # a property set (x.requires_grad = True) is its in-place method (requires_grad_)
        owner = getattr(func, "__self__", None)
        name = f"{getattr(owner, '__name__', None) or 'property'}_"
    if name.startswith("__r") and name.endswith("__") and name[3:-2] in {
        "matmul", "add", "sub", "mul", "truediv", "pow", "and", "or", "xor", "floordiv", "mod",
    }:
        name = name[3:-2]
    elif name.startswith("__i") and name.endswith("__") and name not in {"__index__", "__int__", "__invert__"}:
        name = name[3:-2] + "_"
    elif name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
    return {"truediv": "div", "truediv_": "div_"}.get(name, name)


def _tensors_in(value):
    if isinstance(value, _Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors_in(item)


class _Dispatched(TorchDispatchMode):
    """Below torch's Python API: every ATen op a traced call runs, named with the API call it runs inside (a
    product inside ``F.multi_head_attention_forward`` is an ``mm`` inside it). Ops run outside any traced API call
    (the checker's stand-ins, run with torch functions off) are not the student's and are not recorded."""

    def __init__(self, tracer: "OpTracer"):
        super().__init__()
        self.tracer = tracer

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """No TorchDynamo guard around __torch_dispatch__: it would import torch._dynamo (1.4 s, 800 modules) at
        the first traced call, and nothing here is compiled."""
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        tops = self.tracer._tops
        name = getattr(getattr(func, "overloadpacket", None), "__name__", None) or str(func)
        if "reduce" in getattr(func, "_overloadname", ""):  # scatter.reduce, scatter_.value_reduce: a sum by index
            name = f"{name.rstrip('_')}_reduce"
        if tops:
            self.tracer.below.setdefault(name, set()).add(tops[-1])
        elif _torch_function_on():  # under no API call the function mode saw (a call that skipped it)
            self.tracer.below.setdefault(name, set()).add(NO_API_CALL)
        return func(*args, **(kwargs or {}))


class OpTracer(TorchFunctionMode):
    """Counts tensor-producing torch calls and measures what they allocate; records the ATen ops under them."""

    def __init__(self, large_bytes: int | None = None, scale: dict | None = None):
        super().__init__()
        # the required-op check's counterfactual: what these calls return, when they sum over something, multiplied
        # by this factor; an answer built from their results changes with it, one built around them does not
        self._scaled_names = frozenset((scale or {}).get("names", ()))
        self._factor = (scale or {}).get("factor", 1.0)
        self._inputs: set[int] = set()  # ids of the call's inputs and what data-preserving ops made of them
        self._kept: list = []  # those tensors, kept alive so that their ids stay theirs
        self.scaled_work = 0
        self.computed = 0  # elements the calls computed (not moved, not made from nothing): the work done in torch
        self.widest: tuple[int, str] = (0, "")  # the most elements one computing call output, and its name
        self.below: dict[str, set[str]] = {}  # ATen op -> the API calls it ran inside
        self._tops: list[str] = []
        self._depth = 0
        self._dispatched = _Dispatched(self)
        self.counts: dict[str, int] = {}  # a plain dict: a Counter's methods are Python, which a notebook can replace
        self.called: set[str] = set()  # every name called, whether or not it returned a tensor
        self.largest_bytes = 0
        self.largest_shape: tuple[int, ...] = ()
        self.large_bytes = large_bytes
        self._large_storages: set[int] = set()
        self._large_alive: list = []  # kept alive so a freed pointer is not reused and missed
        self._known_storages: set[int] = set()

    def remember_existing(self, tensors) -> None:
        """Storages that exist before the traced call are not allocations of it; the tensors are its inputs."""
        for t in tensors:
            if isinstance(t, _Tensor):
                self._known_storages.add(_address(_untyped_storage(t)))
                self._inputs.add(id(t))
                self._kept.append(t)

    def _from_inputs(self, args, kwargs) -> bool:
        operands = list(_tensors_in(args)) + list(_tensors_in(_tuple((kwargs or {}).values())))
        return bool(operands) and all(id(t) in self._inputs for t in operands)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = canonical_name(func)
        self.called.add(name)
        if name in ACCUMULATING_PUTS and _accumulates(args, kwargs):
            self.called.add(f"{name.rstrip('_')}_accumulate")  # a sum into the indices: a reduction
        if name in REDUCING_SCATTERS and _reduces(args, kwargs):
            self.called.add("scatter_reduce")
        if name in CALLBACK_OPS:
            args = tuple(self._followed(a) if callable(a) and not isinstance(a, _Tensor) else a for a in args)
        self._tops.append(name)
        try:
            out = func(*args, **(kwargs or {}))
        finally:
            self._tops.pop()
        if self._scaled_names:
            out = self._counterfactual(name, args, kwargs, out)
        produced = list(_tensors_in(out))
        if produced:
            self.counts[name] = self.counts.get(name, 0) + 1
            if name not in DATA_PRESERVING and name not in CREATES:
                for t in produced:
                    size = _numel(t)
                    self.computed += size
                    if size > self.widest[0]:
                        self.widest = (size, name)
            for t in produced:
                self._measure(t)
                if _needs_grad(t):  # however it was switched on, autograd records this call
                    self.called.add(GRAPH)
                if _is_complex(t):  # however it was made (x * 1j, torch.complex, view_as_complex, a cast)
                    self.called.add(COMPLEX)
        return out

    def _copied_whole(self, args, source: int) -> bool:
        """A write of the inputs that fills its target (``padded[:, :, p:p + h, p:p + w] = x`` with no padding,
        ``out.copy_(x)``): not a row of them broadcast over ones of her own."""
        return len(args) > source and isinstance(args[0], _Tensor) and isinstance(args[source], _Tensor) and \
            id(args[source]) in self._inputs and _numel(args[source]) == _numel(args[0])

    def _counterfactual(self, name, args, kwargs, out):
        """The required-op check's second call: a product on the inputs (moved or retyped only) that sums over
        something has its result scaled and its multiply-adds counted; what data-preserving ops make of the
        inputs is still the inputs."""
        if name in DATA_PRESERVING and self._from_inputs(args, kwargs):
            for t in _tensors_in(out):
                self._inputs.add(id(t))
                self._kept.append(t)
        elif name in _WRITES_INTO and self._copied_whole(args, _WRITES_INTO[name]):
            self._inputs.add(id(args[0]))  # the inputs written over a tensor of zeros: a copy of them
            self._kept.append(args[0])
        elif name in self._scaled_names and isinstance(out, _Tensor) and _is_floating(out) and \
                self._from_inputs(args, kwargs):
            done = work(name, args, out)
            if done:
                self.scaled_work += done
                with _no_torch_function(), _no_python_dispatch():
                    out = _mul(out, self._factor)
        return out

    def __enter__(self):
        if not hasattr(self, "_elsewhere"):
            self._elsewhere = _started_elsewhere()
        self._depth += 1
        if self._depth == 1:
            _dispatch_mode_enter(self._dispatched)
        return _function_mode_enter(self)

    def __exit__(self, *exc):
        result = _function_mode_exit(self, *exc)
        self._depth -= 1
        if self._depth == 0:
            _dispatch_mode_exit(self._dispatched, *exc)
        return result

    def _followed(self, callback):
        """``callback`` counted and traced each time torch calls it."""
        def traced_callback(*values):
            self.counts[CALLBACK] = self.counts.get(CALLBACK, 0) + 1
            with self:
                return callback(*values)
        return traced_callback

    def _measure(self, t) -> None:
        try:
            storage = _untyped_storage(t)
        except (RuntimeError, NotImplementedError):
            return
        key, size = _address(storage), _nbytes(storage)
        if key in self._known_storages:
            return
        if size > self.largest_bytes:
            self.largest_bytes, self.largest_shape = size, _tuple(_shape(t))
        if self.large_bytes is not None and size >= self.large_bytes:
            if key not in self._large_storages:
                self._large_storages.add(key)
                self._large_alive.append(t)

    def report(self) -> dict:
        return {
            "counts": dict(self.counts),
            "called": sorted(self.called),
            "total": sum(self.counts.values()),
            "largest_bytes": self.largest_bytes,
            "largest_shape": list(self.largest_shape),
            "large_allocations": len(self._large_storages),
            # threads and processes started meanwhile: work there is out of this trace's sight
            "elsewhere": _started_elsewhere() - getattr(self, "_elsewhere", 0),
            "below": {name: sorted(tops) for name, tops in self.below.items()},
            "scaled_work": self.scaled_work,
            "computed": self.computed,
            "widest": list(self.widest),
        }
