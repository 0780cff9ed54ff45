"""04_modules: a Module base class, autograd Functions and nn.Module."""
import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class Module:
    """Base class of the layers: __call__ stores the args and the output of forward; backward() calls bwd."""

    def __call__(self, *args):
        self.args = args
        self.out = self.forward(*args)
        return self.out

    def forward(self, *args):
        raise NotImplementedError("subclasses define forward")

    def backward(self) -> None:
        self.bwd(self.out, *self.args)

    def bwd(self, out, *args):
        raise NotImplementedError("subclasses define bwd")


class Relu(Module):
    """ReLU as a Module: forward(inp) = max(inp, 0); bwd sets inp.g = out.g where inp > 0."""

    def forward(self, inp: Tensor) -> Tensor:
        return inp.clamp_min(0.0)

    def bwd(self, out: Tensor, inp: Tensor) -> None:
        inp.g = (inp > 0).to(out.g.dtype) * out.g


class Lin(Module):
    """Linear as a Module with w (n_in, n_out) and b (n_out,); bwd computes w.g = inp.T @ out.g."""

    def __init__(self, w: Tensor, b: Tensor):
        self.w, self.b = w, b

    def forward(self, inp: Tensor) -> Tensor:
        return inp @ self.w + self.b

    def bwd(self, out: Tensor, inp: Tensor) -> None:
        inp.g = out.g @ self.w.t()
        self.w.g = inp.t() @ out.g
        self.b.g = out.g.sum(0)


class Mse(Module):
    """The mse loss as a Module: forward(inp (n, 1), targ (n,)) -> 0-d loss; bwd sets inp.g = 2 (inp - targ) / n."""

    def forward(self, inp: Tensor, targ: Tensor) -> Tensor:
        return (inp.squeeze(-1) - targ).pow(2).mean()

    def bwd(self, out: Tensor, inp: Tensor, targ: Tensor) -> None:
        inp.g = 2.0 * (inp.squeeze(-1) - targ).unsqueeze(-1) / targ.shape[0]


class Model:
    """The two-layer network from the Module subclasses; model(x, targ) -> loss; backward() in reverse order."""

    def __init__(self, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor):
        self.layers = [Lin(w1, b1), Relu(), Lin(w2, b2)]
        self.loss = Mse()

    def __call__(self, x: Tensor, targ: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.loss(x, targ)

    def backward(self) -> None:
        self.loss.backward()
        for layer in reversed(self.layers):
            layer.backward()


class MyRelu(torch.autograd.Function):
    """ReLU as a torch.autograd.Function: forward saves its input; backward masks grad_output where i <= 0."""

    @staticmethod
    def forward(ctx, i: Tensor) -> Tensor:
        ctx.save_for_backward(i)
        return i.clamp_min(0.0)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:
        (i,) = ctx.saved_tensors
        return grad_output * (i > 0).to(grad_output.dtype)


class LinearLayer(nn.Module):
    """nn.Module with Parameters weight (n_out, n_in), Kaiming-initialised, and bias (n_out,), zero.

    forward(x) = x @ weight.T + bias, the same as F.linear(x, weight, bias).
    """

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) * math.sqrt(2 / n_in))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight.t() + self.bias


class TorchModel(nn.Module):
    """nn.Sequential(Linear(n_in, nh), ReLU(), Linear(nh, n_out)); forward(x, targ) returns the mse loss."""

    def __init__(self, n_in: int, nh: int, n_out: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_in, nh), nn.ReLU(), nn.Linear(nh, n_out))

    def forward(self, x: Tensor, targ: Tensor) -> Tensor:
        return F.mse_loss(self.layers(x).squeeze(-1), targ)
