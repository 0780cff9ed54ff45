"""02_forward: the forward pass of a two-layer network and its initialisation."""
import math

import torch
from torch import Tensor


def normalize(x: Tensor, mean, std) -> Tensor:
    """(x - mean) / std with scalar statistics (floats or 0-d tensors); x of any shape."""
    return (x - mean) / std


def lin(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """A linear layer: x @ w + b with x: (n, n_in), w: (n_in, n_out), b: (n_out,) -> (n, n_out)."""
    return x @ w + b


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise, vectorised; x is left unchanged."""
    return x.clamp_min(0.0)


def shifted_relu(x: Tensor) -> Tensor:
    """relu(x) - 0.5: the lesson's tweak that moves the mean of the activations back towards 0."""
    return x.clamp_min(0.0) - 0.5


def xavier_init(n_in: int, n_out: int) -> Tensor:
    """Gaussian weights of shape (n_in, n_out) with mean 0 and std 1/sqrt(n_in) (the lesson's simplified Xavier)."""
    return torch.randn(n_in, n_out) / math.sqrt(n_in)


def kaiming_init(n_in: int, n_out: int) -> Tensor:
    """Gaussian weights of shape (n_in, n_out) with mean 0 and std sqrt(2/n_in) (He et al. 2015, fan_in)."""
    return torch.randn(n_in, n_out) * math.sqrt(2 / n_in)


def mlp_forward(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
    """lin -> relu -> lin: x (n, n_in) -> hidden (n, nh) -> output (n, n_out)."""
    hidden = (x @ w1 + b1).clamp_min(0.0)
    return hidden @ w2 + b2


def mse(output: Tensor, targ: Tensor) -> Tensor:
    """Mean squared error (1/n) sum_i (output_i - targ_i)^2 of output (n, 1) and targ (n,), as a 0-d tensor.

    Squeeze only the last axis: (n, 1) - (n,) would broadcast to (n, n).
    """
    return (output.squeeze(-1) - targ).pow(2).mean()
