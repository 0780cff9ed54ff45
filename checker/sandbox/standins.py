"""The checker's own versions of the exercises others build on, put in place while a dependent is judged.

An exercise that calls or subclasses others (``mlp_forward`` calls ``lin`` and ``relu``; ``Model``
stacks ``Lin``, ``Relu`` and ``Mse``; the 04 layers inherit ``Module``) is judged with these in place
of the student's, so its verdict rests on its own code only: a broken ``Relu`` costs the points of
``Relu``, not of ``Model`` (issue 21, rule 1). Which names stand in for which exercise is declared
once, in the registry (``Exercise.uses``).

They compute with torch and take gradients from autograd, so they give away no hand-written
gradient; they run with torch functions disabled, so the op trace of the exercise being judged
records only what its own code does. Like :mod:`checker.sandbox.scenarios`, everything they call
is bound here at import time, before any student code runs.
"""
from __future__ import annotations

import contextlib

import torch

_disable = torch._C.DisableTorchFunction
_enable_grad = torch.enable_grad
_inference_mode = torch.inference_mode
_clone = torch.Tensor.clone
_is_inference = torch.Tensor.is_inference
_grad = torch.autograd.grad
_detach = torch.Tensor.detach
_requires_grad = torch.Tensor.requires_grad_
_relu_op = torch.relu
_addmm = torch.addmm
_matmul = torch.matmul
_squeeze = torch.Tensor.squeeze
_mean = torch.Tensor.mean
_isinstance = isinstance
_setattr = setattr
_log_softmax = torch.log_softmax
_no_grad = torch.no_grad
_sub_ = torch.Tensor.sub_
_zero_ = torch.Tensor.zero_
_randn = torch.randn


def _grads(fn, inputs, out_g=None, constants=()):
    """d fn(*inputs, *constants) / d inputs (times out_g), by autograd, on copies, seen by no trace; whatever mode
    the student's code runs in (``torch.no_grad()``, ``torch.inference_mode()``: its tensors are copied out of it)."""
    with _disable(), _inference_mode(False), _enable_grad():
        leaves = [_requires_grad(_normal(t), True) for t in inputs]
        out = fn(*leaves, *[_normal(t) for t in constants])
        return _grad(out, leaves, None if out_g is None else _normal(out_g))


def _normal(t):
    """``t`` detached; copied only if it was made in inference mode (autograd takes no such tensor)."""
    return _clone(_detach(t)) if _is_inference(t) else _detach(t)


def _lin(x, w, b):
    return _addmm(b, x, w) if x.dim() == 2 else _matmul(x, w) + b


def _relu(x):
    return _relu_op(x)  # autograd passes no gradient at exactly 0, as the lesson's (inp > 0) does


def _mse(output, targ):
    return _mean((_squeeze(output, -1) - targ) ** 2)


def lin(x, w, b):
    with _disable():
        return _lin(x, w, b)


def relu(x):
    with _disable():
        return _relu(x)


def mse(output, targ):
    with _disable():
        return _mse(output, targ)


def xavier_init(n_in, n_out):
    """The lesson's simplified Xavier: drawn from torch's global generator, so a seed gives the same weights."""
    with _disable():
        return _randn(n_in, n_out) / (n_in ** 0.5)


def lin_grad(inp, out, w, b):
    inp.g, w.g, b.g = _grads(_lin, [inp, w, b], out.g)


def relu_grad(inp, out):
    (inp.g,) = _grads(_relu, [inp], out.g)


def mse_grad(inp, targ):
    (inp.g,) = _grads(_mse, [inp], constants=[targ])


class _Layer:
    """A layer as the lesson's models use one: ``out = layer(*inputs)``, then ``layer.backward()`` sets the
    inputs' ``.g`` from ``out.g``. What it keeps is its own (a model only calls it)."""

    def __call__(self, *inputs):
        out = self._forward(*inputs)
        self._saved = (inputs, out)
        return out

    def backward(self):
        inputs, out = self._saved
        self._backward(out, *inputs)


class Relu(_Layer):
    def _forward(self, x):
        return relu(x)

    def _backward(self, out, x):
        relu_grad(x, out)


class Lin(_Layer):
    def __init__(self, w, b):
        self.w = w
        self.b = b

    def _forward(self, x):
        return lin(x, self.w, self.b)

    def _backward(self, out, x):
        lin_grad(x, out, self.w, self.b)


class Mse(_Layer):
    def _forward(self, x, targ):
        return mse(x, targ)

    def _backward(self, out, x, targ):
        mse_grad(x, targ)


def log_softmax(x):
    with _disable():
        return _log_softmax(x, -1)


def sgd_step(params, lr):
    """One step, then the gradients zeroed (not set to None: a loop may read them). Not torch.optim.SGD: its first
    step imports TorchDynamo (over a second)."""
    with _disable(), _no_grad():
        for param in params:
            _sub_(param, param.grad, alpha=lr)
            _zero_(param.grad)


def _module_call(self, *args):
    vars(self).update(args=args, out=self.forward(*args))  # the names the catalogue's Module contract gives
    return vars(self)["out"]


def _module_backward(self):
    self.bwd(vars(self)["out"], *vars(self)["args"])


REPLACED = {"lin": lin, "relu": relu, "mse": mse, "xavier_init": xavier_init, "lin_grad": lin_grad,
            "relu_grad": relu_grad, "mse_grad": mse_grad, "Relu": Relu, "Lin": Lin, "Mse": Mse,
            "log_softmax": log_softmax, "sgd_step": sgd_step}
# a base class stays the student's class object (her layers subclass it): its contract is put in place instead
BASE_METHODS = {"Module": {"__call__": _module_call, "backward": _module_backward}}
NAMES = frozenset(REPLACED) | frozenset(BASE_METHODS)


_MISSING = object()


@contextlib.contextmanager
def installed(ns: dict, names):
    """The stand-ins for ``names`` in the student's namespace ``ns`` while the block runs; hers afterwards."""
    undo = []
    try:
        for name in names:
            if name in REPLACED:
                undo.append((ns, name, ns.get(name, _MISSING)))
                ns[name] = REPLACED[name]
            elif name in BASE_METHODS and _isinstance(ns.get(name), type):
                base = ns[name]
                for attr, method in BASE_METHODS[name].items():
                    own = base.__dict__.get(attr, _MISSING)
                    try:
                        _setattr(base, attr, method)
                    except (TypeError, AttributeError):  # a class that refuses: judged with hers
                        continue
                    undo.append((base, attr, own))
        yield
    finally:
        for owner, key, value in reversed(undo):
            _put_back(owner, key, value)


def _put_back(owner, key, value) -> None:
    try:
        if _isinstance(owner, dict):
            if value is _MISSING:
                owner.pop(key, None)
            else:
                owner[key] = value
        elif value is _MISSING:
            delattr(owner, key)
        else:
            _setattr(owner, key, value)
    except (TypeError, AttributeError):
        pass
