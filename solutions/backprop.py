"""03_backprop: gradients written by hand, then layers as classes."""
from torch import Tensor


def mse_grad(inp: Tensor, targ: Tensor) -> None:
    """Set inp.g = d mse / d inp = 2 (inp - targ) / n, shaped like inp (n, 1); targ is (n,)."""
    inp.g = 2.0 * (inp.squeeze(-1) - targ).unsqueeze(-1) / inp.shape[0]


def relu_grad(inp: Tensor, out: Tensor) -> None:
    """Set inp.g = out.g where inp > 0, else 0 (out = relu(inp), out.g already set)."""
    inp.g = (inp > 0).to(out.g.dtype) * out.g


def lin_grad(inp: Tensor, out: Tensor, w: Tensor, b: Tensor) -> None:
    """Backward of out = inp @ w + b given out.g (n, n_out): set inp.g (n, n_in), w.g (n_in, n_out), b.g (n_out,).

    inp.g = out.g @ w.T;  w.g = inp.T @ out.g (no (n, n_in, n_out) outer product);  b.g = out.g summed over rows.
    """
    inp.g = out.g @ w.t()
    w.g = inp.t() @ out.g
    b.g = out.g.sum(0)


def forward_and_backward(inp: Tensor, targ: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
    """Run lin -> relu -> lin -> mse, return the loss, and set .g on inp, w1, b1, w2, b2 by hand (reverse order)."""
    l1 = inp @ w1 + b1
    l2 = l1.clamp_min(0.0)
    out = l2 @ w2 + b2
    loss = (out.squeeze(-1) - targ).pow(2).mean()
    mse_grad(out, targ)
    lin_grad(l2, out, w2, b2)
    relu_grad(l1, l2)
    lin_grad(inp, l1, w1, b1)
    return loss


class Relu:
    """A ReLU layer: __call__ remembers its input and output; backward() sets inp.g from out.g."""

    def __call__(self, inp: Tensor) -> Tensor:
        self.inp = inp
        self.out = inp.clamp_min(0.0)
        return self.out

    def backward(self) -> None:
        self.inp.g = (self.inp > 0).to(self.out.g.dtype) * self.out.g


class Lin:
    """A linear layer holding w (n_in, n_out) and b (n_out,); backward() sets inp.g, w.g and b.g."""

    def __init__(self, w: Tensor, b: Tensor):
        self.w, self.b = w, b

    def __call__(self, inp: Tensor) -> Tensor:
        self.inp = inp
        self.out = inp @ self.w + self.b
        return self.out

    def backward(self) -> None:
        self.inp.g = self.out.g @ self.w.t()
        self.w.g = self.inp.t() @ self.out.g
        self.b.g = self.out.g.sum(0)


class Mse:
    """The loss as a layer: __call__(inp (n, 1), targ (n,)) returns the mse; backward() sets inp.g."""

    def __call__(self, inp: Tensor, targ: Tensor) -> Tensor:
        self.inp, self.targ = inp, targ
        self.out = (inp.squeeze(-1) - targ).pow(2).mean()
        return self.out

    def backward(self) -> None:
        self.inp.g = 2.0 * (self.inp.squeeze(-1) - self.targ).unsqueeze(-1) / self.targ.shape[0]


class Model:
    """Lin(w1, b1), Relu, Lin(w2, b2) and an Mse loss; model(x, targ) -> loss; backward() runs them in reverse."""

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
