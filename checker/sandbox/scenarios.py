"""The probes the child can run on student code. Each returns plain data.

They run in the child after the student's cells, so everything they rely on is bound
here at import time, before any student code exists: a student who later replaces
``torch.Tensor.clone``, ``time.perf_counter`` or ``torch.manual_seed`` changes nothing
that these functions call. Nothing here decides a verdict: the parent does.
"""
from __future__ import annotations

import traceback

import torch
from torch import nn

from checker import messages as msg
from checker import inputs as _inputs
from checker import yardsticks as _yardsticks
from checker.sandbox import judged_code as _judged_code
from checker.sandbox import standins as _standins
from checker.sandbox.tracing import OpTracer

_Tensor = torch.Tensor
_numel, _reshape, _take, _new_tensor, _long = torch.Tensor.numel, torch.reshape, torch.take, torch.tensor, torch.long
_set_default_dtype, _float32 = torch._C._set_default_dtype, torch.float32  # torch.set_default_dtype is only this
_clone = torch.Tensor.clone
_detach = torch.Tensor.detach
_as_subclass = torch.Tensor.as_subclass
_equal = torch.equal
_manual_seed = torch.manual_seed
_full = torch.full
POISON = 1.0e6  # what freed memory holds before each sampled call (see samples)
_gradcheck = torch.autograd.gradcheck
_storage = torch.Tensor.untyped_storage
_address = torch._C.StorageBase.data_ptr  # past anything put on torch.UntypedStorage
_YARDSTICKS = dict(_yardsticks.YARDSTICKS)
_isinstance = isinstance
_Parameter = nn.Parameter
_Module = nn.Module
_Linear = nn.Linear
_full_like = torch.full_like
_no_grad = torch.no_grad
_copy = torch.Tensor.copy_
_strided = torch.strided
_requires_grad = torch.Tensor.requires_grad_
_enable_grad = torch.enable_grad
_Sequential = nn.Sequential
_ReLU = nn.ReLU
_cross_entropy = torch.nn.functional.cross_entropy
_backward = torch.Tensor.backward
_tensor_sum = torch.Tensor.sum
_type = type
_str, _exception_str, _str_copy = str, BaseException.__str__, str.__str__
# A value read after the student's call is read only if it is exactly one of these: a tensor of a class of her own
# runs her code whenever torch touches it (its __torch_function__, __torch_dispatch__, properties), and reading it
# here would run that code after the call, out of the trace's sight (a result computed only when it is read).
_PLAIN_TENSORS = (torch.Tensor, nn.Parameter)
_instance_dict = torch.Tensor.__dict__["__dict__"].__get__  # a tensor's own attributes, past any class property
_grad_of = torch._C.TensorBase.__dict__["grad"].__get__  # .grad as torch keeps it, past any property put over it
# What the checker reads of a tensor after her call, as torch keeps it: a property put on torch.Tensor during the
# call (one that removes itself when read, so that no patch is left for the tripwire to find) is never consulted.
_is_nested, _layout, _device, _is_quantized, _shape, _is_leaf, _needs_grad = (
    torch._C.TensorBase.__dict__[name].__get__
    for name in ("is_nested", "layout", "device", "is_quantized", "shape", "is_leaf", "requires_grad"))


class MissingName(LookupError):
    pass


def resolve(ns: dict, target: str):
    if target not in ns:
        raise MissingName(target)
    return ns[target]


def _unusual(t) -> str | None:
    """What makes a tensor other than an ordinary dense one in memory (meta, sparse, quantized, nested...)."""
    try:
        if _is_nested(t):
            return "nested"
        if _layout(t) != _strided:
            return str(_layout(t)).replace("torch.", "")
        if _device(t).type != "cpu":
            return f"{_device(t).type} device"
        if _is_quantized(t):
            return "quantized"
    except Exception:  # noqa: BLE001 - a tensor subclass whose properties raise
        return "unreadable"
    return None


def _own_class(value) -> bool:
    return _isinstance(value, _Tensor) and _type(value) not in _PLAIN_TENSORS


def pack(value):
    """A student's return value as plain data: a tensor copy, or the type and repr."""
    if _own_class(value):
        return {"type": _type(value).__name__, "repr": str(msg.TENSOR_OF_ITS_OWN_CLASS)}
    if _isinstance(value, _Tensor):
        unusual = _unusual(value)
        if unusual is not None:
            return {"type": f"Tensor ({unusual})", "repr": f"a {unusual} tensor, not an ordinary one of numbers"}
        return {"tensor": _as_subclass(_clone(_detach(value)), _Tensor)}
    if _isinstance(value, tuple) and getattr(_type(value), "__module__", None) == "torch.return_types":
        name = _type(value).__name__  # torch.max(x, 0)'s (values, indices): a reduction, not an element-wise max
        text = msg.REDUCTION_PAIR_MINMAX if name in ("max", "min") else msg.REDUCTION_PAIR
        return {"type": f"torch.return_types.{name}", "repr": text.format(name=name)}
    if _isinstance(value, (tuple, list)) and all(_isinstance(v, _Tensor) for v in value) and value:
        return {"type": type(value).__name__, "repr": f"{type(value).__name__} of {len(value)} tensors"}
    text = repr(value)
    return {"type": type(value).__name__, "repr": text[:200]}


def snapshot(args):
    return [_clone(_detach(a)) if _isinstance(a, _Tensor) else None for a in args]


def changed(args, before):
    out = []
    for i, (a, b) in enumerate(zip(args, before)):
        if b is None:
            continue
        if _type(a) not in _PLAIN_TENSORS:  # its class was changed: read nothing more of it
            out.append(i)
        elif _shape(a) != _shape(b) or not _equal(_detach(a), b):
            out.append(i)
    return out


def shares_storage(value, args) -> bool:
    if not _isinstance(value, _Tensor) or _own_class(value) or _unusual(value) is not None:
        return False
    ptr = _address(_storage(value))
    return any(_type(a) in _PLAIN_TENSORS and _address(_storage(a)) == ptr for a in args)


def grads_of(objs):
    """The ``.g`` each of the checker's tensors holds, read from the tensor itself (a property put on a class by
    student code would run her code here, after the call)."""
    return [pack(g) if _isinstance(g, _Tensor) else g for g in map(_grad_held, objs)]


def _traced(trace, existing, thunk):
    if trace is None:
        return thunk(), None
    tracer = OpTracer(large_bytes=trace.get("large_bytes"), scale=trace.get("scale"))
    tracer.remember_existing(existing)
    with tracer:
        result = thunk()
    return result, tracer.report()


def call(ns, target, args, preset_g=None, collect_g=None, trace=None):
    """fn(*args); what came back, which inputs changed, and the .g it set."""
    fn = resolve(ns, target)
    args = list(args)
    for index, g in (preset_g or {}).items():
        args[int(index)].g = g
    before = snapshot(args)
    extra = [a.g for a in args if _isinstance(a, _Tensor) and hasattr(a, "g")]
    out, report = _traced(trace, args + extra, lambda: fn(*args))
    result = {"out": pack(out), "changed": changed(args, before), "aliases": shares_storage(out, args)}
    if collect_g is not None:
        result["g"] = grads_of([args[int(i)] for i in collect_g])
    if report is not None:
        result["trace"] = report
    return result


def layer(ns, target, init_args, runs, out_g=None, collect_init=(), collect_call=(), trace=None, stale=None):
    """Build target(*init_args); for each run: [a stale .g on the collected args], out = obj(*args),
    [out.g = out_g, or its k-th item for run k], backward(); the last run's results, and which run arguments
    the layer changed."""
    cls = resolve(ns, target)
    obj = cls(*init_args)
    result = {}
    report = None
    modified: list[int] = []
    for k, run_args in enumerate(runs):
        run_args = list(run_args)
        if stale is not None:
            for i in collect_call:
                run_args[int(i)].g = _full_like(run_args[int(i)], stale)
        before = snapshot(run_args)
        out = obj(*run_args)
        run_g = out_g[k] if _isinstance(out_g, list) else out_g  # one per run when the runs' shapes differ
        if run_g is not None:
            out.g = run_g

        def backward():
            obj.backward()

        _, report = _traced(trace, list(init_args) + run_args + ([run_g] if run_g is not None else []), backward)
        modified += [i for i in changed(run_args, before) if i not in modified]
        result = {"out": pack(out), "g_init": grads_of([init_args[int(i)] for i in collect_init]),
                  "g_call": grads_of([run_args[int(i)] for i in collect_call]), "changed": modified}
    if report is not None:
        result["trace"] = report
    return result


def module_subclass(ns, target, x, out_g, pair=None, other=None):
    """New subclasses of the student's Module with only forward and bwd: one input (x cubed); with ``pair``
    ([(a, b, out.g), ...], calls of other shapes), two inputs (a * b), called once per item."""
    base = resolve(ns, target)

    class Cube(base):
        def forward(self, inp):
            return inp * inp * inp

        def bwd(self, out, inp):
            inp.g = 3 * inp * inp * out.g

    Cube.__qualname__ = "Cube"
    cube = Cube()
    out = cube(x)
    if out is None:  # a __call__ without return: named by the check, not as the AttributeError of out.g below
        return {"returned_none": True}
    out.g = out_g
    cube.backward()
    result = {"out": pack(out), "g": grads_of([x])[0]}
    if other is not None:  # two instances called in turn: each backward must use what its own call saw
        y, y_g = other
        x2 = _clone(x)
        first, second = Cube(), Cube()
        out1 = first(x2)
        out2 = second(y)
        out1.g, out2.g = out_g, y_g
        try:
            first.backward()
            result["interleaved"] = grads_of([x2])[0]
        except Exception as exc:  # noqa: BLE001 - reported, not judged, here
            result["interleaved"] = {"raised": describe_exception(exc)}
    if pair is not None:  # a layer of two inputs (as Mse is), called twice on other shapes: every argument kept
        class Product(base):
            def forward(self, a, b):
                return a * b

            def bwd(self, out, a, b):
                a.g, b.g = b * out.g, a * out.g

        Product.__qualname__ = "Product"
        product = Product()
        try:
            for a, b, g in pair:
                out = product(a, b)
                out.g = g
                product.backward()
            result["pair"] = {"out": pack(out), "g": grads_of([a, b])}
        except Exception as exc:  # noqa: BLE001 - reported, not judged, here
            result["pair"] = {"raised": describe_exception(exc)}
    try:
        base()(x)
        result["base_forward"] = "returned"
    except NotImplementedError:
        result["base_forward"] = "NotImplementedError"
    except Exception as exc:  # noqa: BLE001 - reported, not judged, here
        result["base_forward"] = type(exc).__name__
    return result


def autograd_function(ns, target, x, grad_out, x64):
    fn = resolve(ns, target)
    leaf = _detach(_clone(x)).requires_grad_()
    out = fn.apply(leaf)
    kept = _clone(grad_out)
    out.backward(grad_out)
    result = {"out": pack(out), "grad": pack(leaf.grad) if leaf.grad is not None else {"missing": True},
              "grad_out_changed": not _equal(grad_out, kept)}
    try:
        result["gradcheck"] = bool(_gradcheck(fn.apply, (_detach(_clone(x64)).requires_grad_(),),
                                              eps=1e-6, atol=1e-5, raise_exception=False))
    except Exception as exc:  # noqa: BLE001
        result["gradcheck"] = False
        result["gradcheck_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return result


def nn_module(ns, target, init_args, call_args=None, backward=False, seed=None, bias=None, first_call_args=None):
    """Build target(*init_args): its parameters and submodules; [its output on call_args (after a first call on
    ``first_call_args`` of another shape, whose result is dropped), then again with ``bias`` copied into its
    bias]; [the parameters' grads after out.backward()]."""
    cls = resolve(ns, target)
    if seed is not None:
        _manual_seed(seed)
    obj = cls(*init_args)
    result = {
        "is_module": _isinstance(obj, _Module),
        "parameters": [[name, list(p.shape), _isinstance(p, _Parameter)] for name, p in obj.named_parameters()]
        if _isinstance(obj, _Module) else [],
        "modules": [[name, type(m).__name__] for name, m in obj.named_modules()] if _isinstance(obj, _Module) else [],
        "linears": [[pack(m.weight), pack(m.bias)] for m in obj.modules() if _isinstance(m, _Linear)]
        if _isinstance(obj, _Module) else [],
    }
    for attr in ("weight", "bias"):
        if hasattr(obj, attr) and _isinstance(getattr(obj, attr), _Tensor):
            result[attr] = pack(getattr(obj, attr))
    if call_args is not None:
        if first_call_args is not None:
            obj(*first_call_args)
        out = obj(*call_args)
        result["out"] = pack(out)
        if bias is not None and _isinstance(getattr(obj, "bias", None), _Tensor):
            with _no_grad():
                _copy(obj.bias, bias)
            result["out_with_bias"] = pack(obj(*call_args))
        if backward:
            out.backward()
            result["grads"] = [[name, pack(_grad_of(p)) if _grad_of(p) is not None else {"missing": True}]
                               for name, p in obj.named_parameters()]
    return result


def samples(ns, target, args, seed):
    """Two unseeded calls and two calls after the same manual_seed. Before each call, memory the size of
    the result is filled with a constant and freed, so that torch.empty (whatever memory held) shows
    itself whatever this process computed before, rather than by chance."""
    fn = resolve(ns, target)

    def call():
        _poison(args)
        return fn(*args)

    first, second = call(), call()
    _manual_seed(seed)
    seeded_a = call()
    _manual_seed(seed)
    seeded_b = call()
    return {"first": pack(first), "second": pack(second), "seeded_a": pack(seeded_a), "seeded_b": pack(seeded_b)}


def _poison(args) -> None:
    numel = 1
    for n in args:
        numel *= int(n) if _isinstance(n, int) else 1
    blocks = [_full((numel,), POISON) for _ in range(4)]
    del blocks


_build_inputs = _inputs.build
_STAGED: list = []  # the inputs the grader had built here for its next timed call


def stage(ns, spec):
    """Build the next call's inputs here (a timed call's, and the traced one after it), from the grader's spec
    (whose seed it draws from the system's randomness for every call), before the call is timed: its time is then
    her work only, not the transfer of its inputs, and nothing large crosses the pipe. The grader builds the same
    tensors to check the answers. Only code bound before hers runs here (checker.inputs)."""
    _STAGED[:] = [_build_inputs(spec)]
    return {"staged": True}


def timed_call(ns, target, args, yardstick=None, sample_g=None):
    """One call of the student's function, or of a yardstick (in a process that has only ever run the checker's
    code): the grader reads the process's CPU time from the kernel around this probe, nothing is timed here.
    ``sample_g`` ([argument index, flat positions] pairs, drawn by the grader): the .g those arguments hold after
    the call, read at those positions only (a whole copy would count in her time)."""
    fn = _YARDSTICKS[yardstick] if yardstick else resolve(ns, target)
    result = {"out": pack(fn(*args))}
    if sample_g:
        result["g_sampled"] = [_sampled_g(args[int(i)], positions) for i, positions in sample_g]
    return result


def _sampled_g(obj, positions):
    """The entries at ``positions`` of the .g one of the checker's tensors holds, with its shape."""
    got = _grad_held(obj)
    if not _isinstance(got, _Tensor):
        return got
    if _numel(got) <= max(positions, default=-1):
        return {"shape": list(_shape(got)), "tensor": None}
    flat = _reshape(_detach(got), (-1,))
    return {"shape": list(_shape(got)), "tensor": _clone(_take(flat, _new_tensor(positions, dtype=_long)))}


def _grad_held(obj):
    """The .g one of the checker's tensors holds, as it is where it is a plain tensor, else described as data (a
    tensor of her own class is never read: reading it would run her code)."""
    if _type(obj) not in _PLAIN_TENSORS:
        return {"type": _type(obj).__name__, "repr": str(msg.TENSOR_OF_ITS_OWN_CLASS)}
    own = _instance_dict(obj)
    if "g" not in own:
        return {"missing": True}
    g = own["g"]
    if _type(g) not in _PLAIN_TENSORS or _unusual(g) is not None:
        return pack(g)
    return g


def subclass_of(ns, target, base):
    cls = resolve(ns, target)
    parent = resolve(ns, base)
    return {"is_subclass": _isinstance(cls, type) and _isinstance(parent, type) and issubclass(cls, parent)}


def _leaves(values):
    return [_requires_grad(_clone(_detach(v)), True) for v in values]


def _grads_packed(params):
    return [pack(_grad_of(p)) if _grad_of(p) is not None else {"missing": True} for p in params]


def optimizer_step(ns, target, params, grads, lr, probe):
    """fn(params, lr) on leaves that require grad, each with .grad set, handed over as a generator (as
    ``model.parameters()`` is: it can be walked once): the parameters and grads after it, whether they are still
    leaves that require grad, and the grads one more backward (of sum(p * probe)) leaves; then a second step
    from those grads (each call is a step of its own), handed over as a list."""
    fn = resolve(ns, target)
    leaves = _leaves(params)
    for p, g in zip(leaves, grads):
        p.grad = _clone(g)
    out = fn((p for p in leaves), lr)
    result = {"returned": pack(out) if out is not None else None,
              "params": [pack(p) for p in leaves],
              "leaf": [_type(p) in _PLAIN_TENSORS and bool(_is_leaf(p) and _needs_grad(p)) for p in leaves],
              "grads": _grads_packed(leaves)}
    with _enable_grad():
        total = None
        for p, c in zip(leaves, probe):
            term = _tensor_sum(p * c)
            total = term if total is None else total + term
        _backward(total)
    result["next_grads"] = _grads_packed(leaves)
    fn(list(leaves), lr)
    result["second"] = [pack(p) for p in leaves]
    result["second_grads"] = _grads_packed(leaves)
    return result


def training(ns, target, weights, batches, lr, epochs, eval_x):
    """fn(model, cross_entropy, batches, lr, epochs) on the checker's two-layer network (weights given): the
    parameters after training, and the model's outputs on ``eval_x``."""
    fn = resolve(ns, target)
    (w1, b1), (w2, b2) = weights
    model = _Sequential(_Linear(w1.shape[1], w1.shape[0]), _ReLU(), _Linear(w2.shape[1], w2.shape[0]))
    with _no_grad():
        for layer_, (w, b) in ((model[0], (w1, b1)), (model[2], (w2, b2))):
            _copy(layer_.weight, w)
            _copy(layer_.bias, b)
    with _enable_grad():
        fn(model, _cross_entropy, [(xb, yb) for xb, yb in batches], lr, epochs)
    with _no_grad():
        out = model(eval_x)
    return {"params": [pack(p) for p in model.parameters()], "out": pack(out)}


SCENARIOS = {
    "optimizer_step": optimizer_step,
    "training": training,
    "subclass_of": subclass_of,
    "call": call,
    "layer": layer,
    "module_subclass": module_subclass,
    "autograd_function": autograd_function,
    "nn_module": nn_module,
    "samples": samples,
    "timed_call": timed_call,
    "stage": stage,
}


def where(exc: BaseException) -> str:
    """The last frame of the traceback that is in the student's cells."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell")]
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename[1:-1]}, line {f.lineno}, in {f.name}: {(f.line or '').strip()}"


def cell_frames(exc: BaseException) -> list[list[int]]:
    """Every frame of the traceback that is in the student's cells, outermost first, as [cell index, line]: where
    the cell's own statement raised (the first one in that cell) and where the error began (the last)."""
    frames = []
    for f in traceback.extract_tb(exc.__traceback__):
        if f.filename.startswith("<cell ") and f.filename.endswith(">") and f.filename[6:-1].isdigit():
            frames.append([int(f.filename[6:-1]), f.lineno or 0])
    return frames if len(frames) <= 50 else frames[:25] + frames[-25:]  # a deep recursion: its two ends


def _raised_by_a_stub(exc: BaseException):
    """A NotImplementedError the student's own code raised (the stub's ``raise``), not one torch raised for an
    operation it lacks (``torch.native_norm`` on this machine): its last frame is a cell's ``raise`` line. The
    name of the function whose stub raised (an exercise her code calls may be the one still a stub), else False."""
    if not _isinstance(exc, NotImplementedError):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return True
    last = frames[-1]
    return (last.name or True) if last.filename.startswith("<cell") and (last.line or "").lstrip().startswith("raise") \
        else False


def _message_of(exc: BaseException) -> str:
    """The exception's message; one that cannot be shown as text (a ``__str__`` of hers that raises: that raised
    in the checker, and once took the process with it) as BaseException shows its arguments, or says so."""
    for show in (_str, _exception_str):
        try:
            return _str_copy(show(exc))
        except BaseException:  # noqa: BLE001 - whatever her objects raise when shown
            continue
    return msg.UNREADABLE_MESSAGE.format(type=_type(exc).__name__)


def describe_exception(exc: BaseException) -> dict:
    message = _message_of(exc)
    memory = _isinstance(exc, MemoryError) or "can't allocate memory" in message or "DefaultCPUAllocator" in message
    return {
        "type": type(exc).__name__,
        "mro": [c.__name__ for c in type(exc).__mro__],
        "message": message[:500],
        "where": where(exc),
        "frames": cell_frames(exc),
        "not_implemented": _raised_by_a_stub(exc),
        "memory": memory,
    }


def run(ns, name, params) -> dict:
    params = dict(params)
    staged = params.pop("staged", False)
    standing_in = params.pop("standins", ())
    judged = params.pop("judged", None)
    try:
        if staged:  # on the inputs stage() built: any scenario that takes ``args``, once
            params["args"] = list(_STAGED.pop())
        # the checker's inputs are float32, and so is what her code makes from nothing while judged: a notebook's
        # torch.set_default_dtype(torch.float64) would otherwise give her layers float64 weights beside them
        _set_default_dtype(_float32)
        with _standins.installed(ns, standing_in):
            if judged is not None and params.get("target") in ns:
                _judged_code.check(ns, params["target"], judged)
            return {"result": SCENARIOS[name](ns, **params)}
    except _judged_code.NotJudged as exc:
        return {"unjudged": exc.where}
    except MissingName as exc:
        return {"missing": str(exc)}
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything, SystemExit too
        return {"raised": describe_exception(exc)}
