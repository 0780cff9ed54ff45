"""Realistic wrong answers, each with the messages a student must see (instructor-side: they are near-solutions).

Every check in the checker is tested both ways: the reference passes (test_reference.py)
and one of these fails with the message constants listed here.
"""
from __future__ import annotations

import dataclasses

from checker import messages as msg


@dataclasses.dataclass(frozen=True)
class Wrong:
    notebook: str
    exercise: str
    id: str
    replace: dict
    expected: tuple  # message templates that must all appear in the exercise's feedback
    status: str = "failed"
    score: float | None = 0.0  # None: don't check


def W(notebook, exercise, id, source, *expected, status="failed", score=0.0, name=None):
    return Wrong(notebook, exercise, id, {name or exercise: source}, tuple(expected), status, score)


M, F, B, D, T = "01_matmul", "02_forward", "03_backprop", "04_modules", "05_training"

# 03's Model with a backward of its own (``body``): the layers and the forward as the lesson writes them
MODEL_BACKWARD = ("class Model:\n    def __init__(self, w1, b1, w2, b2):\n"
                  "        self.layers = [Lin(w1, b1), Relu(), Lin(w2, b2)]\n        self.loss = Mse()\n\n"
                  "    def __call__(self, x, targ):\n        for layer in self.layers:\n            x = layer(x)\n"
                  "        return self.loss(x, targ)\n\n    def backward(self):\n{body}")

LOOPS3 = '''
def {name}(a, b):
    n, k = a.shape
    k2, m = b.shape
    if k != k2:
        raise ValueError("inner dimensions differ")
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        for j in range(m):
            for p in range(k):
                c[i, j] += a[i, p] * b[p, j]
    return c
'''
LOOPS2 = '''
def {name}(a, b):
    n, k = a.shape
    k2, m = b.shape
    if k != k2:
        raise ValueError("inner dimensions differ")
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        for j in range(m):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c
'''

HALVING = '''
def _halved(p):
    width = 1
    while width < p.shape[-1]:
        width *= 2
    p = torch.nn.functional.pad(p, (0, width - p.shape[-1]))
    while width > 1:
        width //= 2
        p = p[..., :width] + p[..., width:]
    return p[..., 0]

def {name}(a, b):
    if a.shape[1] != b.shape[0]:
        raise ValueError("inner dimensions differ")
    products = a[:, None, :] * b.t()[None, :, :]
    return {call}
'''
WRONG = [
    # -- 01_matmul ---------------------------------------------------------------------------
    W(M, "matmul_loops", "uses-matmul", "def matmul_loops(a, b):\n    assert a.shape[1] == b.shape[0]\n    return a @ b",
      msg.FORBIDDEN_OP),
    W(M, "matmul_loops", "never-raises", LOOPS3.format(name="matmul_loops").replace(
        '    if k != k2:\n        raise ValueError("inner dimensions differ")\n', ""), msg.DID_NOT_RAISE, score=1.0),
    # no loop at all: a broadcast product summed by halving (no tensor-level sum called), in torch throughout
    W(M, "matmul_loops", "vectorised-halving", HALVING.format(name="matmul_loops", call="_halved(products)"),
      msg.LOOPS_VECTORISED, score=1.0),
    # two loops, over the rows of a and the inner dimension, a whole row of b at a time: no wider than a row, but
    # its ops do not grow with the columns of b
    W(M, "matmul_loops", "two-loops-rows-of-b", "def matmul_loops(a, b):\n    n, k = a.shape\n"
      "    if k != b.shape[0]:\n        raise ValueError('inner dimensions differ')\n"
      "    c = a.new_zeros(n, b.shape[1])\n    for i in range(n):\n        for p in range(k):\n"
      "            c[i] += a[i, p] * b[p]\n    return c", msg.LOOPS_MISSING, score=1.0),
    # a broadcast product added up by Python's sum, beside three loops whose ops compute nothing used (round 20)
    W(M, "matmul_loops", "vectorised-beside-idle-loops",
      "def matmul_loops(a, b):\n    n, k = a.shape\n    k2, m = b.shape\n    if k != k2:\n"
      "        raise ValueError('inner dimensions differ')\n"
      "    c = sum(a.T[:, :, None] * b[:, None, :]) + torch.zeros(n, m, dtype=a.dtype)\n"
      "    for i in range(n):\n        for j in range(m):\n            for p in range(k):\n                a[i, p]\n"
      "    return c", msg.LOOPS_VECTORISED, score=1.0),
    # the same, its result then read as Python numbers and made a tensor again: torch did every step's work
    W(M, "matmul_loops", "vectorised-then-python-numbers", HALVING.format(
        name="matmul_loops", call="torch.tensor(_halved(products).tolist(), dtype=a.dtype)"),
      msg.LOOPS_VECTORISED, score=1.0),
    W(M, "matmul_elementwise", "three-loops", LOOPS3.format(name="matmul_elementwise"),
      msg.OPS_GROW, msg.SPEED_FAILED, score=1.0),
    W(M, "matmul_broadcast", "loops-over-columns", LOOPS2.format(name="matmul_broadcast").replace(
        '    if k != k2:\n        raise ValueError("inner dimensions differ")\n', ""), msg.OPS_GROW, msg.SPEED_FAILED,
      score=1.5),
    W(M, "matmul_broadcast", "numpy-matmul",
      "import numpy as np\ndef matmul_broadcast(a, b):\n    if a.shape[1] != b.shape[0]:\n"
      "        raise ValueError('inner dimensions differ')\n    return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))",
      msg.SOURCE_OTHER_LIBRARY),
    W(M, "matmul_broadcast", "row-times-matrix",
      "def matmul_broadcast(a, b):\n    c = torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)\n"
      "    for i in range(a.shape[0]):\n        c[i] = a[i] @ b\n    return c", msg.FORBIDDEN_OP),
    W(M, "matmul_broadcast", "sums-wrong-axis",
      "def matmul_broadcast(a, b):\n    c = torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)\n"
      "    for i in range(a.shape[0]):\n        c[i] = (a[i, :, None] * b).sum(dim=1)\n    return c",
      msg.RAISED_ON_VALID_INPUT),
    W(M, "matmul_einsum", "uses-at", "def matmul_einsum(a, b):\n    return a @ b", msg.FORBIDDEN_OP,
      msg.REQUIRED_OP_MISSING),
    # einsum called around a sum done by halving: it copies, the halving computes the answer
    W(M, "matmul_einsum", "einsum-around-halving",
      HALVING.format(name="matmul_einsum", call="torch.einsum('ij->ij', _halved(products))"), msg.REQUIRED_OP_PARTIAL),
    # the product by einsum, computed and left unused
    W(M, "matmul_einsum", "einsum-result-unused",
      HALVING.format(name="matmul_einsum", call="(torch.einsum('ik,kj->ij', a, b), _halved(products))[1]"),
      msg.REQUIRED_OP_IDLE),
    W(M, "matmul_einsum", "transposed-result", "def matmul_einsum(a, b):\n    return torch.einsum('ik,kj->ji', a, b)",
      msg.SHAPE_MISMATCH),
    W(M, "batch_matmul", "loops-over-batch",
      "def batch_matmul(a, b):\n    return torch.stack([torch.einsum('ik,kj->ij', a[i], b[i]) for i in range(a.shape[0])])",
      msg.OPS_GROW, score=1.0),
    W(M, "frobenius_norm", "torch-norm", "def frobenius_norm(m):\n    return torch.norm(m)", msg.FORBIDDEN_OP),
    W(M, "frobenius_norm", "forgot-sqrt", "def frobenius_norm(m):\n    return (m * m).sum()", msg.VALUE_MISMATCH),
    W(M, "frobenius_norm", "python-float", "def frobenius_norm(m):\n    return float((m * m).sum().sqrt())",
      msg.NOT_A_TENSOR),
    W(M, "outer", "loop", "def outer(u, v):\n    return torch.stack([u[i] * v for i in range(len(u))])",
      msg.OPS_GROW, score=1.0),
    W(M, "outer", "transposed", "def outer(u, v):\n    return u[None, :] * v[:, None]", msg.SHAPE_MISMATCH),
    W(M, "normalize_channels", "broadcast-on-width", "def normalize_channels(x, mean, std):\n    return (x - mean) / std",
      msg.RAISED_ON_VALID_INPUT, msg.HINT_NORMALIZE_CHANNELS_AXES),
    W(M, "normalize_channels", "materialised-mean",
      "def normalize_channels(x, mean, std):\n    n, c, h, w = x.shape\n"
      "    m = mean.view(1, c, 1, 1).repeat(n, 1, h, w)\n    s = std.view(1, c, 1, 1).repeat(n, 1, h, w)\n"
      "    return (x - m) / s", msg.FULL_SIZE_COPIES, score=1.5),
    W(M, "normalize_channels", "in-place",
      "def normalize_channels(x, mean, std):\n    x -= mean[:, None, None]\n    x /= std[:, None, None]\n    return x",
      msg.INPUT_MODIFIED),
    W(M, "pairwise_sq_dists", "no-clamp",
      "def pairwise_sq_dists(x, y):\n    return (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T",
      msg.NEGATIVE_RESULT, msg.HINT_NEGATIVE_DISTANCES),
    W(M, "pairwise_sq_dists", "loop-over-points",
      "def pairwise_sq_dists(x, y):\n    return torch.stack([((x[i] - y) ** 2).sum(1) for i in range(x.shape[0])])",
      msg.OPS_GROW, score=1.5),
    # -- 02_forward --------------------------------------------------------------------------
    W(F, "normalize", "swapped", "def normalize(x, mean, std):\n    return (x - std) / mean", msg.VALUE_MISMATCH),
    W(F, "normalize", "in-place", "def normalize(x, mean, std):\n    return x.sub_(mean).div_(std)", msg.INPUT_MODIFIED),
    W(F, "lin", "no-bias", "def lin(x, w, b):\n    return x @ w", msg.VALUE_MISMATCH),
    W(F, "lin", "transposed-w", "def lin(x, w, b):\n    return x @ w.t() + b", msg.RAISED_ON_VALID_INPUT),
    W(F, "relu", "max-reduces", "def relu(x):\n    return torch.max(x, 0)", msg.NOT_A_TENSOR,
      msg.REDUCTION_PAIR_MINMAX),
    W(F, "relu", "max-values", "def relu(x):\n    return torch.max(x, 0).values", msg.SHAPE_MISMATCH,
      msg.HINT_REDUCED),
    W(F, "relu", "in-place", "def relu(x):\n    x[x < 0] = 0\n    return x", msg.INPUT_MODIFIED),
    W(F, "relu", "python-floats", "def relu(x):\n    values = [max(v, 0.0) for v in x.flatten().tolist()]\n"
      "    return torch.tensor(values, dtype=x.dtype).reshape(x.shape)", msg.SOURCE_LEAVES_TORCH, score=1.0),
    W(F, "relu", "loops", "def relu(x):\n    flat = x.flatten()\n"
      "    return torch.stack([v if v > 0 else v * 0 for v in flat]).reshape(x.shape)", msg.OPS_GROW, score=1.0),
    W(F, "shifted_relu", "plus-half", "def shifted_relu(x):\n    return x.clamp_min(0.) + 0.5", msg.VALUE_MISMATCH),
    W(F, "xavier_init", "fan-out", "def xavier_init(n_in, n_out):\n    return torch.randn(n_in, n_out) / math.sqrt(n_out)",
      msg.STAT_STD, msg.HINT_XAVIER_FAN_OUT),
    W(F, "xavier_init", "reseeds", "def xavier_init(n_in, n_out):\n    torch.manual_seed(0)\n"
      "    return torch.randn(n_in, n_out) / math.sqrt(n_in)", msg.STAT_NOT_RANDOM),
    W(F, "xavier_init", "uniform", "def xavier_init(n_in, n_out):\n"
      "    return (torch.rand(n_in, n_out) - 0.5) * math.sqrt(12 / n_in)", msg.STAT_NOT_GAUSSIAN),
    W(F, "xavier_init", "numpy-random", "def xavier_init(n_in, n_out):\n    import numpy as np\n"
      "    return torch.from_numpy(np.random.randn(n_in, n_out).astype('float32')) / math.sqrt(n_in)",
      msg.STAT_NOT_SEEDED),
    W(F, "xavier_init", "transposed", "def xavier_init(n_in, n_out):\n    return torch.randn(n_out, n_in) / math.sqrt(n_in)",
      msg.STAT_SHAPE),
    W(F, "kaiming_init", "no-two", "def kaiming_init(n_in, n_out):\n    return torch.randn(n_in, n_out) / math.sqrt(n_in)",
      msg.STAT_STD, msg.HINT_KAIMING_NO_TWO),
    W(F, "mlp_forward", "no-relu", "def mlp_forward(x, w1, b1, w2, b2):\n    return (x @ w1 + b1) @ w2 + b2",
      msg.VALUE_MISMATCH),
    W(F, "mse", "broadcasts", "def mse(output, targ):\n    return (output - targ).pow(2).mean()",
      msg.VALUE_MISMATCH, msg.HINT_MSE_BROADCAST),
    W(F, "mse", "sum", "def mse(output, targ):\n    return (output.squeeze(-1) - targ).pow(2).sum()", msg.VALUE_MISMATCH),
    # -- 03_backprop -------------------------------------------------------------------------
    W(B, "mse_grad", "no-mean", "def mse_grad(inp, targ):\n    inp.g = 2. * (inp.squeeze(-1) - targ).unsqueeze(-1)",
      msg.VALUE_MISMATCH, msg.HINT_MSE_GRAD_MEAN),
    W(B, "mse_grad", "flat", "def mse_grad(inp, targ):\n    inp.g = 2. * (inp.squeeze(-1) - targ) / inp.shape[0]",
      msg.SHAPE_MISMATCH),
    W(B, "relu_grad", "greater-equal", "def relu_grad(inp, out):\n    inp.g = (inp >= 0).float() * out.g",
      msg.VALUE_MISMATCH, msg.HINT_RELU_GRAD_MASK),
    W(B, "lin_grad", "bias-wrong-axis", "def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n"
      "    w.g = inp.t() @ out.g\n    b.g = out.g.sum(1)", msg.SHAPE_MISMATCH, msg.HINT_BIAS_AXIS),
    W(B, "lin_grad", "outer-product", "def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n"
      "    w.g = (inp.unsqueeze(-1) * out.g.unsqueeze(1)).sum(0)\n    b.g = out.g.sum(0)", msg.LARGEST_ALLOCATION,
      score=2.0),
    W(B, "lin_grad", "outer-product-per-row", "def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n"
      "    g = w * 0\n    for i in range(inp.shape[0]):\n"
      "        g += inp[i][:, None] * out.g[i][None, :]\n    w.g = g\n    b.g = out.g.sum(0)", msg.OPS_GROW,
      score=2.0),
    W(B, "lin_grad", "w-transposed", "def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n"
      "    w.g = out.g.t() @ inp\n    b.g = out.g.sum(0)", msg.SHAPE_MISMATCH, msg.HINT_W_TRANSPOSE),
    W(B, "forward_and_backward", "uses-autograd",
      "def forward_and_backward(inp, targ, w1, b1, w2, b2):\n"
      "    ps = [t.requires_grad_() for t in (inp, w1, b1, w2, b2)]\n"
      "    loss = ((inp @ w1 + b1).clamp_min(0.) @ w2 + b2).squeeze(-1).sub(targ).pow(2).mean()\n"
      "    loss.backward()\n    for p in ps:\n        p.g = p.grad.clone()\n        p.requires_grad_(False)\n"
      "    return loss.detach()", msg.FORBIDDEN_OP),
    W(D, "Lin", "outer-product-per-row", "class Lin(Module):\n    def __init__(self, w, b):\n        self.w, self.b = w, b\n\n"
      "    def forward(self, inp):\n        return inp @ self.w + self.b\n\n    def bwd(self, out, inp):\n"
      "        inp.g = out.g @ self.w.t()\n        wg = torch.zeros_like(self.w)\n"
      "        for i in range(inp.shape[0]):\n            wg.addcmul_(inp[i].unsqueeze(1), out.g[i].unsqueeze(0))\n"
      "        self.w.g = wg\n        self.b.g = out.g.sum(0)", msg.OPS_GROW, score=None),
    W(B, "forward_and_backward", "weight-grads-row-by-row",
      "def forward_and_backward(inp, targ, w1, b1, w2, b2):\n    l1 = inp @ w1 + b1\n    l2 = l1.clamp_min(0.)\n"
      "    out = l2 @ w2 + b2\n    loss = (out.squeeze(-1) - targ).pow(2).mean()\n"
      "    out.g = 2. * (out.squeeze(-1) - targ).unsqueeze(-1) / inp.shape[0]\n    l2.g = out.g @ w2.t()\n"
      "    w2.g = sum(l2[i:i + 1].t() @ out.g[i:i + 1] for i in range(inp.shape[0]))\n    b2.g = out.g.sum(0)\n"
      "    l1.g = (l1 > 0).float() * l2.g\n    inp.g = l1.g @ w1.t()\n"
      "    w1.g = sum(inp[i:i + 1].t() @ l1.g[i:i + 1] for i in range(inp.shape[0]))\n    b1.g = l1.g.sum(0)\n"
      "    return loss", msg.SPEED_FAILED, score=None),
    # a loop over the batch, two rows a step (attack round 20: 2.4x, under the speed bar of 3x): counted instead
    W(B, "forward_and_backward", "input-grads-two-rows-a-step",
      "def forward_and_backward(inp, targ, w1, b1, w2, b2):\n    l1 = inp @ w1 + b1\n    l2 = l1.clamp_min(0.)\n"
      "    out = l2 @ w2 + b2\n    loss = (out.squeeze(-1) - targ).pow(2).mean()\n    mse_grad(out, targ)\n"
      "    lin_grad(l2, out, w2, b2)\n    relu_grad(l1, l2)\n    g = inp.new_empty(inp.shape)\n"
      "    for s in range(0, inp.shape[0], 2):\n        g[s:s + 2] = l1.g[s:s + 2] @ w1.t()\n"
      "    w1.g = inp.t() @ l1.g\n    b1.g = l1.g.sum(0)\n    inp.g = g\n    return loss", msg.OPS_GROW, score=2.0),
    W(B, "forward_and_backward", "skips-relu-grad",
      "def forward_and_backward(inp, targ, w1, b1, w2, b2):\n    l1 = inp @ w1 + b1\n    l2 = l1.clamp_min(0.)\n"
      "    out = l2 @ w2 + b2\n    loss = (out.squeeze(-1) - targ).pow(2).mean()\n    mse_grad(out, targ)\n"
      "    lin_grad(l2, out, w2, b2)\n    l1.g = l2.g\n    lin_grad(inp, l1, w1, b1)\n    return loss",
      msg.VALUE_MISMATCH),
    W(B, "Relu", "passes-everything", "class Relu:\n    def __call__(self, inp):\n        self.inp = inp\n"
      "        self.out = inp.clamp_min(0.)\n        return self.out\n\n    def backward(self):\n"
      "        self.inp.g = self.out.g", msg.VALUE_MISMATCH, msg.HINT_RELU_GRAD_MASK),
    W(B, "Lin", "bias-wrong-axis", "class Lin:\n    def __init__(self, w, b):\n        self.w, self.b = w, b\n\n"
      "    def __call__(self, inp):\n        self.inp = inp\n        self.out = inp @ self.w + self.b\n        return self.out\n\n"
      "    def backward(self):\n        self.inp.g = self.out.g @ self.w.t()\n        self.w.g = self.inp.t() @ self.out.g\n"
      "        self.b.g = self.out.g.sum(1)", msg.SHAPE_MISMATCH, msg.HINT_BIAS_AXIS),
    W(B, "Mse", "no-mean", "class Mse:\n    def __call__(self, inp, targ):\n        self.inp, self.targ = inp, targ\n"
      "        self.out = (inp.squeeze(-1) - targ).pow(2).mean()\n        return self.out\n\n    def backward(self):\n"
      "        self.inp.g = 2. * (self.inp.squeeze(-1) - self.targ).unsqueeze(-1)", msg.HINT_MSE_GRAD_MEAN),
    W(B, "Lin", "accumulates", "class Lin:\n    def __init__(self, w, b):\n        self.w, self.b = w, b\n\n"
      "    def __call__(self, inp):\n        self.inp = inp\n        self.out = inp @ self.w + self.b\n        return self.out\n\n"
      "    def backward(self):\n        self.inp.g = self.out.g @ self.w.t()\n"
      "        self.w.g = getattr(self.w, 'g', 0) + self.inp.t() @ self.out.g\n"
      "        self.b.g = getattr(self.b, 'g', 0) + self.out.g.sum(0)", msg.GRAD_NOT_FRESH),
    W(B, "Model", "forward-order-backward", MODEL_BACKWARD.format(
        body="        self.loss.backward()\n        for layer in self.layers:\n            layer.backward()"),
      msg.RAISED_ON_VALID_INPUT),
    W(B, "Model", "loss-backward-skipped", MODEL_BACKWARD.format(
        body="        for layer in reversed(self.layers):\n            layer.backward()"),
      msg.RAISED_ON_VALID_INPUT, msg.HINT_BACKWARD_ORDER),
    # -- 04_modules --------------------------------------------------------------------------
    W(D, "Module", "forward-returns-none", "class Module:\n    def __call__(self, *args):\n        self.args = args\n"
      "        self.out = self.forward(*args)\n        return self.out\n\n    def forward(self, *args):\n        pass\n\n"
      "    def backward(self):\n        self.bwd(self.out, *self.args)", msg.BASE_FORWARD),
    W(D, "Module", "bwd-without-out", "class Module:\n    def __call__(self, *args):\n        self.args = args\n"
      "        self.out = self.forward(*args)\n        return self.out\n\n    def forward(self, *args):\n"
      "        raise NotImplementedError\n\n    def backward(self):\n        self.bwd(*self.args)", msg.SUBCLASS_BROKEN),
    W(D, "Module", "call-without-return", "class Module:\n    def __call__(self, *args):\n        self.args = args\n"
      "        self.out = self.forward(*args)\n\n    def forward(self, *args):\n        raise NotImplementedError\n\n"
      "    def backward(self):\n        self.bwd(self.out, *self.args)", msg.CALL_RETURNED_NONE),
    W(D, "Relu", "not-a-module", "class Relu:\n    def __call__(self, inp):\n        self.args = (inp,)\n"
      "        self.out = inp.clamp_min(0.)\n        return self.out\n\n    def backward(self):\n"
      "        inp, = self.args\n        inp.g = (inp > 0).float() * self.out.g", msg.NOT_SUBCLASS),
    W(D, "Lin", "einsum-bwd", "class Lin(Module):\n    def __init__(self, w, b):\n        self.w, self.b = w, b\n\n"
      "    def forward(self, inp):\n        return inp @ self.w + self.b\n\n    def bwd(self, out, inp):\n"
      "        inp.g = out.g @ self.w.t()\n        self.w.g = torch.einsum('bi,bj->ij', inp, out.g)\n"
      "        self.b.g = out.g.sum(0)", msg.FORBIDDEN_OP),
    W(D, "MyRelu", "unmasked", "class MyRelu(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, i):\n"
      "        ctx.save_for_backward(i)\n        return i.clamp_min(0.)\n\n    @staticmethod\n"
      "    def backward(ctx, grad_output):\n        return grad_output", msg.VALUE_MISMATCH, msg.GRADCHECK_FAILED,
      msg.HINT_MYRELU_MASK),
    W(D, "Mse", "no-squeeze", "class Mse(Module):\n    def forward(self, inp, targ):\n"
      "        return (inp - targ).pow(2).mean()\n\n    def bwd(self, out, inp, targ):\n"
      "        inp.g = 2.0 * (inp.squeeze(-1) - targ).unsqueeze(-1) / targ.shape[0]", msg.VALUE_MISMATCH,
      msg.HINT_MSE_BROADCAST),
    W(D, "LinearLayer", "plain-tensors", "class LinearLayer(nn.Module):\n    def __init__(self, n_in, n_out):\n"
      "        super().__init__()\n        self.weight = torch.randn(n_out, n_in) * math.sqrt(2 / n_in)\n"
      "        self.bias = torch.zeros(n_out)\n\n    def forward(self, x):\n        return x @ self.weight.t() + self.bias",
      msg.PARAMETERS_WRONG),
    W(D, "LinearLayer", "xavier-weight", "class LinearLayer(nn.Module):\n    def __init__(self, n_in, n_out):\n"
      "        super().__init__()\n        self.weight = nn.Parameter(torch.randn(n_out, n_in) / math.sqrt(n_in))\n"
      "        self.bias = nn.Parameter(torch.zeros(n_out))\n\n    def forward(self, x):\n"
      "        return x @ self.weight.t() + self.bias", msg.STAT_STD, msg.HINT_KAIMING_NO_TWO),
    W(D, "TorchModel", "plain-list", "class TorchModel(nn.Module):\n    def __init__(self, n_in, nh, n_out):\n"
      "        super().__init__()\n        self.layers = [nn.Linear(n_in, nh), nn.ReLU(), nn.Linear(nh, n_out)]\n\n"
      "    def forward(self, x, targ):\n        for layer in self.layers:\n            x = layer(x)\n"
      "        return F.mse_loss(x.squeeze(-1), targ)", msg.MODULES_NONE_REGISTERED),
    W(D, "TorchModel", "module-list-out-of-order", "class TorchModel(nn.Module):\n    def __init__(self, n_in, nh, n_out):\n"
      "        super().__init__()\n        self.layers = nn.ModuleList([nn.Linear(n_in, nh), nn.Linear(nh, n_out), "
      "nn.ReLU()])\n\n    def forward(self, x, targ):\n        for layer in self.layers:\n            x = layer(x)\n"
      "        return F.mse_loss(x.squeeze(-1), targ)", msg.MODULES_WRONG),
    W(D, "TorchModel", "no-squeeze", "class TorchModel(nn.Module):\n    def __init__(self, n_in, nh, n_out):\n"
      "        super().__init__()\n        self.layers = nn.Sequential(nn.Linear(n_in, nh), nn.ReLU(), "
      "nn.Linear(nh, n_out))\n\n    def forward(self, x, targ):\n        return ((self.layers(x) - targ) ** 2).mean()",
      msg.VALUE_MISMATCH, msg.HINT_MSE_BROADCAST),
    # -- 05_training -------------------------------------------------------------------------
    W(T, "log_softmax", "unstable", "def log_softmax(x):\n    return x - x.exp().sum(-1, keepdim=True).log()",
      msg.NAN_MISMATCH, msg.HINT_SUBTRACT_MAX),
    W(T, "log_softmax", "wrong-axis", "def log_softmax(x):\n    m = x.max(0, keepdim=True).values\n"
      "    return x - m - (x - m).exp().sum(0, keepdim=True).log()", msg.VALUE_MISMATCH, msg.HINT_SOFTMAX_AXIS),
    W(T, "log_softmax", "torch-logsumexp", "def log_softmax(x):\n    return x - x.logsumexp(-1, keepdim=True)",
      msg.FORBIDDEN_OP),
    W(T, "nll", "every-target-every-row", "def nll(log_probs, target):\n    return -log_probs[:, target].mean()",
      msg.VALUE_MISMATCH, msg.HINT_NLL_INDEX),
    W(T, "nll", "no-minus", "def nll(log_probs, target):\n"
      "    return log_probs[torch.arange(len(target)), target].mean()", msg.VALUE_MISMATCH, msg.HINT_NLL_SIGN),
    W(T, "nll", "torch-nll-loss", "def nll(log_probs, target):\n    return F.nll_loss(log_probs, target)",
      msg.FORBIDDEN_OP),
    W(T, "log_softmax", "column-max", "def log_softmax(x):\n    m = x.max(0).values\n"
      "    y = x - m\n    return y - y.exp().sum(-1, keepdim=True).log()", msg.VALUE_MISMATCH, msg.HINT_MAX_AXIS),
    W(T, "cross_entropy_grad", "no-mean", "def cross_entropy_grad(logits, target):\n"
      "    p = log_softmax(logits).exp()\n    p[torch.arange(len(target)), target] -= 1\n    return p",
      msg.VALUE_MISMATCH, msg.HINT_CE_GRAD_MEAN),
    W(T, "cross_entropy_grad", "no-one-hot", "def cross_entropy_grad(logits, target):\n"
      "    return log_softmax(logits).exp() / logits.shape[0]", msg.VALUE_MISMATCH, msg.HINT_CE_ONE_HOT),
    W(T, "cross_entropy_grad", "autograd", "def cross_entropy_grad(logits, target):\n"
      "    leaf = logits.detach().clone().requires_grad_()\n    F.cross_entropy(leaf, target).backward()\n"
      "    return leaf.grad", msg.FORBIDDEN_OP),
    W(T, "accuracy", "count", "def accuracy(out, target):\n    return (out.argmax(-1) == target).float().sum()",
      msg.VALUE_MISMATCH, msg.HINT_ACCURACY_FRACTION),
    W(T, "accuracy", "integer-division", "def accuracy(out, target):\n"
      "    return (out.argmax(-1) == target).sum() // target.shape[0]", msg.DTYPE_MISMATCH, msg.HINT_ACCURACY_INTEGER),
    W(T, "accuracy", "float-floor-division", "def accuracy(out, target):\n"
      "    return (out.argmax(-1) == target).float().sum() // target.shape[0]", msg.VALUE_MISMATCH,
      msg.HINT_ACCURACY_INTEGER),
    W(T, "sgd_step", "wrong-sign", "def sgd_step(params, lr):\n    with torch.no_grad():\n        for p in params:\n"
      "            p += lr * p.grad\n            p.grad.zero_()", msg.STEP_WRONG, msg.HINT_STEP_SIGN),
    W(T, "sgd_step", "no-zero-grad", "def sgd_step(params, lr):\n    with torch.no_grad():\n        for p in params:\n"
      "            p -= lr * p.grad", msg.STEP_GRADS_KEPT),
    W(T, "sgd_step", "walks-the-generator-twice", "def sgd_step(params, lr):\n    with torch.no_grad():\n"
      "        for p in params:\n            p -= lr * p.grad\n    for p in params:\n        p.grad.zero_()",
      msg.STEP_GRADS_KEPT, msg.HINT_STEP_GENERATOR),
    W(T, "sgd_step", "recorded-by-autograd", "def sgd_step(params, lr):\n    for p in params:\n"
      "        p -= lr * p.grad\n        p.grad.zero_()", msg.RAISED_ON_VALID_INPUT, msg.HINT_STEP_NO_GRAD),
    W(T, "sgd_step", "rebinds", "def sgd_step(params, lr):\n    with torch.no_grad():\n        for p in params:\n"
      "            p = p - lr * p.grad\n    for p in params:\n        p.grad.zero_()", msg.STEP_WRONG,
      msg.HINT_STEP_NOT_IN_PLACE),
    W(T, "sgd_step", "zeroes-first", "def sgd_step(params, lr):\n    with torch.no_grad():\n        for p in params:\n"
      "            p.grad.zero_()\n            p -= lr * p.grad", msg.STEP_WRONG, msg.HINT_STEP_ZEROED_FIRST),
    W(T, "fit", "no-zero-grad", "def fit(model, loss_func, xb_yb_batches, lr, epochs):\n    for _ in range(epochs):\n"
      "        for xb, yb in xb_yb_batches:\n            loss_func(model(xb), yb).backward()\n"
      "            with torch.no_grad():\n                for p in model.parameters():\n"
      "                    p -= lr * p.grad", msg.FIT_PARAMETERS, msg.HINT_FIT_NO_ZERO),
    W(T, "fit", "wrong-sign", "def fit(model, loss_func, xb_yb_batches, lr, epochs):\n    for _ in range(epochs):\n"
      "        for xb, yb in xb_yb_batches:\n            loss_func(model(xb), yb).backward()\n"
      "            with torch.no_grad():\n                for p in model.parameters():\n"
      "                    p += lr * p.grad\n                    p.grad.zero_()",
      msg.FIT_PARAMETERS, msg.HINT_FIT_SIGN, msg.FIT_DID_NOT_LEARN),
    W(T, "fit", "first-batch-only", "def fit(model, loss_func, xb_yb_batches, lr, epochs):\n"
      "    xb, yb = xb_yb_batches[0]\n    for _ in range(epochs):\n        loss_func(model(xb), yb).backward()\n"
      "        sgd_step(list(model.parameters()), lr)", msg.FIT_PARAMETERS, msg.HINT_FIT_FIRST_BATCH,
      msg.FIT_DID_NOT_LEARN),
    W(T, "conv2d_unfold", "flipped-kernel", "def conv2d_unfold(x, w, b, stride=1, padding=0):\n"
      "    n, _, h, wd = x.shape\n    c_out, _, kh, kw = w.shape\n"
      "    p = F.unfold(x, (kh, kw), padding=padding, stride=stride)\n"
      "    out = w.flip(-1, -2).reshape(c_out, -1) @ p + b[:, None]\n"
      "    return out.reshape(n, c_out, (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1)",
      msg.VALUE_MISMATCH, msg.HINT_CONV_FLIPPED),
    W(T, "conv2d_unfold", "size-ignores-stride", "def conv2d_unfold(x, w, b, stride=1, padding=0):\n"
      "    n, _, h, wd = x.shape\n    c_out, _, kh, kw = w.shape\n"
      "    p = F.unfold(x, (kh, kw), padding=padding, stride=stride)\n"
      "    out = w.reshape(c_out, -1) @ p + b[:, None]\n"
      "    return out.reshape(n, c_out, -1, wd + 2 * padding - kw + 1)", msg.RAISED_ON_VALID_INPUT),
    W(T, "conv2d_unfold", "torch-conv2d", "def conv2d_unfold(x, w, b, stride=1, padding=0):\n"
      "    return F.conv2d(x, w, b, stride=stride, padding=padding)", msg.FORBIDDEN_OP),
]

def _depends() -> dict[tuple[str, str], set[str]]:
    """(notebook, exercise) -> every entry it calls or subclasses, transitively: the registry's ``uses``, declared
    once there (a wrong answer to one of them must not share a submission with a wrong answer to it)."""
    from checker.registry import Exercise, all_entries

    direct = {(e.notebook, e.name): set(e.uses) for e in all_entries() if isinstance(e, Exercise)}
    closed = {}
    for key in direct:
        seen, todo = set(), list(direct[key])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo += direct.get((key[0], name), set())
        closed[key] = seen
    return {key: names for key, names in closed.items() if names}


DEPENDS = _depends()


def _conflict(a: Wrong, b: Wrong) -> bool:
    if a.notebook != b.notebook:
        return True
    if set(a.replace) & set(b.replace) or a.exercise == b.exercise:
        return True
    return bool(DEPENDS.get((a.notebook, a.exercise), set()) & set(b.replace)
                or DEPENDS.get((b.notebook, b.exercise), set()) & set(a.replace)
                or a.exercise in b.replace or b.exercise in a.replace)


def groups() -> list[list[Wrong]]:
    """Wrong answers packed into as few submissions as possible, none interfering with another."""
    packed: list[list[Wrong]] = []
    for wrong in WRONG:
        for group in packed:
            if not any(_conflict(wrong, other) for other in group):
                group.append(wrong)
                break
        else:
            packed.append([wrong])
    return packed
