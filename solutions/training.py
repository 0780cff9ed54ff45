"""Reference solutions of 05_training: the loss, its gradient, the step and the loop. One top-level def per
exercise, in catalogue order; each one's signature and docstring become the student's stub, its body the hidden
solution."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

ANSWERS = {
    "q_max_shift": """
exp of a large logit overflows: in float32, exp(89) is already inf, and inf / inf is nan, so a naive
log(softmax) returns nan (and a very negative row underflows to log(0) = -inf). Subtracting the row's
max m first makes every exponent at most 0, so exp stays in [0, 1] and at least one term is exactly 1:
the sum is between 1 and c, and its log is finite. The result does not change because
log softmax(x)_i = x_i - log sum_j exp(x_j) = (x_i - m) - log sum_j exp(x_j - m): the factor exp(m)
comes out of the sum and its log cancels.
""",
    "q_zero_grad": """
backward() adds into p.grad rather than overwriting it (so that gradients of several losses, or of a
batch split in pieces, can be summed). After a step the old gradient is still there; without zeroing,
the next backward adds the new batch's gradient to it, and every step moves by the sum of all gradients
so far: steps grow, point the wrong way once the loss surface bends, and training diverges or stalls.
""",
}  # model answers to this notebook's written questions: name -> text (graded by hand)

def log_softmax(x: Tensor) -> Tensor:
    """log(softmax(x)) over the last dimension of a (n, c) tensor, stable for logits of any size: subtract each
    row's max before exponentiating (the logsumexp trick), by hand."""
    m = x.max(dim=-1, keepdim=True).values
    shifted = x - m
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()


def nll(log_probs: Tensor, target: Tensor) -> Tensor:
    """Mean negative log-likelihood of integer targets (n,) under log-probabilities (n, c), by indexing."""
    return -log_probs[torch.arange(log_probs.shape[0]), target].mean()


def cross_entropy_grad(logits: Tensor, target: Tensor) -> Tensor:
    """The gradient of the mean cross-entropy nll(log_softmax(logits), target) with respect to the logits (n, c):
    softmax(logits) minus the one-hot targets, over n; by hand, no autograd."""
    probs = log_softmax(logits).exp()
    probs[torch.arange(logits.shape[0]), target] -= 1
    return probs / logits.shape[0]


def accuracy(out: Tensor, target: Tensor) -> Tensor:
    """The fraction of rows of out (n, c) whose largest entry is at the target's index, as a float 0-d tensor."""
    return (out.argmax(dim=-1) == target).float().mean()


def sgd_step(params, lr: float) -> None:
    """One step of gradient descent on every parameter (p -= lr * p.grad, in place and without recording the
    update in autograd), then zero the gradients so that the next backward starts from zero. params may be a
    generator, as model.parameters() is: it can be walked only once."""
    with torch.no_grad():
        for p in params:
            p.sub_(p.grad, alpha=lr)
            p.grad.zero_()


def fit(model, loss_func, xb_yb_batches, lr: float, epochs: int) -> None:
    """Train ``model`` for ``epochs`` passes over ``xb_yb_batches`` (a list of (xb, yb) minibatches, used in
    order): loss_func(model(xb), yb), backward, then one SGD step of every model.parameters()."""
    for _ in range(epochs):
        for xb, yb in xb_yb_batches:
            loss = loss_func(model(xb), yb)
            loss.backward()
            sgd_step(list(model.parameters()), lr)


def conv2d_unfold(x: Tensor, w: Tensor, b: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
    """A 2D convolution (what F.conv2d computes: cross-correlation) of x (n, c_in, h, w) with kernels w (c_out,
    c_in, kh, kw) and bias b (c_out,): F.unfold into patches, then one matrix product; no conv2d."""
    n, _, h, width = x.shape
    c_out, _, kh, kw = w.shape
    patches = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (n, c_in*kh*kw, L)
    out = w.reshape(c_out, -1) @ patches + b[:, None]  # (n, c_out, L)
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    return out.reshape(n, c_out, oh, ow)
