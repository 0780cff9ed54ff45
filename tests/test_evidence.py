"""Evidence the student cannot forge: forbidden work done below or beside torch's Python API, loops over
Python numbers, and code that reaches into the checker's process, each written as a student would.

Every attack is graded with the checker, as the CLI, the plugin and autograde grade (the source is read in
the grader, the op trace comes from the student's process): the attacked exercise earns nothing (or half,
for a loop), with the message a student should read; an honest submission is untouched.
"""
from __future__ import annotations

import pytest

from checker import messages as msg
from checker.grading import grade
from checker.results import ERROR, FAILED, PASSED
from checker.sandbox import tripwire
from checker.source_evidence import Program, tampering, uses
from tests.helpers import cells_for, matches, submission

CHECK_PAIR = "    if a.shape[1] != b.shape[0]:\n        raise ValueError('inner dimensions differ')\n"

# a block matrix whose inverse holds a @ b in its upper-right block
BLOCK = ("    n, k = a.shape\n    m = b.shape[1]\n    big = torch.eye(n + k + m, dtype=a.dtype)\n"
         "    big[:n, n:n + k] = -a\n    big[n:n + k, n + k:] = -b\n")
# a worker fed through queues by the exercise: {start} starts it when the cell runs
WORKER = ("import queue, threading\n_jobs, _done = queue.Queue(), queue.Queue()\n"
          "def _worker():\n    while True:\n        a, b = _jobs.get()\n        _done.put(a @ b)\n"
          "{start}\ndef matmul_broadcast(a, b):\n" + CHECK_PAIR + "    _jobs.put((a, b))\n"
          "    return _done.get(timeout=5)")
# (exercise, its source, the message template, the status, the score)
FORBIDDEN_ELSEWHERE = [
    ("matmul_elementwise", "numpy", "import numpy as np\ndef matmul_elementwise(a, b):\n" + CHECK_PAIR
     + "    return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))", msg.SOURCE_OTHER_LIBRARY),
    ("matmul_elementwise", "numpy-star", "from numpy import *\ndef matmul_elementwise(a, b):\n" + CHECK_PAIR
     + "    return torch.from_numpy(dot(a.numpy(), b.numpy()))", msg.SOURCE_OTHER_LIBRARY),
    ("matmul_broadcast", "operator-matmul", "import operator\ndef matmul_broadcast(a, b):\n" + CHECK_PAIR
     + "    return operator.matmul(a, b)", msg.FORBIDDEN_OP),
    ("matmul_broadcast", "aten-overload", "def matmul_broadcast(a, b):\n" + CHECK_PAIR
     + "    return torch.ops.aten.mm.default(a, b)", (msg.SOURCE_BELOW_API, msg.FORBIDDEN_OP)),  # the dispatcher sees it too
    ("matmul_broadcast", "getattr-built-name", "def matmul_broadcast(a, b):\n" + CHECK_PAIR
     + "    return getattr(torch, 'm' + 'm')(a, b)", msg.FORBIDDEN_OP),
    ("matmul_broadcast", "helper-elsewhere", "import numpy\ndef _product(a, b):\n    return numpy.einsum('ik,kj->ij', a, b)\n"
     "def matmul_broadcast(a, b):\n" + CHECK_PAIR + "    return torch.from_numpy(_product(a.numpy(), b.numpy()))",
     msg.SOURCE_OTHER_LIBRARY),
    ("frobenius_norm", "aten-norm", "def frobenius_norm(m):\n    return torch.ops.aten.linalg_vector_norm.default(m)",
     (msg.SOURCE_BELOW_API, msg.FORBIDDEN_OP)),  # torch's function mode sees this one; either says so
    ("outer", "numpy-outer", "import numpy as np\ndef outer(u, v):\n    return torch.from_numpy(np.outer(u.numpy(), v.numpy()))",
     msg.SOURCE_OTHER_LIBRARY),
    # the same sums of products under another name: a 1x1 convolution is a matrix product
    ("matmul_broadcast", "conv1d", "import torch.nn.functional as F\ndef matmul_broadcast(a, b):\n" + CHECK_PAIR
     + "    return F.conv1d(a.t().unsqueeze(0), b.t().unsqueeze(-1)).squeeze(0).t().contiguous()", msg.FORBIDDEN_OP),
    ("frobenius_norm", "pairwise-distance", "import torch.nn.functional as F\ndef frobenius_norm(m):\n"
     "    flat = m.reshape(1, -1)\n    return F.pairwise_distance(flat, torch.zeros_like(flat), eps=0.0).reshape(())",
     msg.FORBIDDEN_OP),
    ("matmul_broadcast", "covariance", "def matmul_broadcast(a, b):\n" + CHECK_PAIR
     + "    n, k = a.shape\n    rows = torch.cat([a, b.t()], 0)\n    sym = torch.cat([rows, -rows], 1)\n"
     "    return (torch.cov(sym, correction=0)[:n, n:] * k).contiguous()", msg.FORBIDDEN_OP),
    ("frobenius_norm", "embedding-max-norm", "import torch.nn.functional as F\ndef frobenius_norm(m):\n"
     "    s = m.abs().amax()\n    x = (m / s).reshape(1, -1)\n    w = x.clone()\n"
     "    F.embedding(torch.zeros(1, dtype=torch.long), w, max_norm=0.5)\n"
     "    return ((0.5 * x.abs().sum() / w.abs().sum() - 1e-7) * s).reshape(())", msg.FORBIDDEN_OP),
    ("frobenius_norm", "fused-loss", "import torch.nn.functional as F\ndef frobenius_norm(m):\n"
     "    return F.mse_loss(m, torch.zeros_like(m), reduction='sum').sqrt()", msg.FORBIDDEN_OP),
    ("matmul_broadcast", "attention", "from torch import nn\ndef matmul_broadcast(a, b):\n" + CHECK_PAIR
     + "    n, k = a.shape\n    m = b.shape[1]\n    e = max(k, m)\n"
     "    mha = nn.MultiheadAttention(e, 1, batch_first=True, dtype=a.dtype)\n    mha.eval()\n"
     "    with torch.no_grad():\n        w = torch.zeros(3 * e, e, dtype=a.dtype)\n"
     "        w[2 * e:2 * e + k, :k] = torch.eye(k, dtype=a.dtype)\n        mha.in_proj_weight.copy_(w)\n"
     "        mha.in_proj_bias.zero_()\n        p = torch.zeros(e, e, dtype=a.dtype)\n        p[:m, :k] = b.t()\n"
     "        mha.out_proj.weight.copy_(p)\n        mha.out_proj.bias.zero_()\n"
     "        v = torch.zeros(n, 1, e, dtype=a.dtype)\n        v[:, 0, :k] = a\n"
     "        out, _ = mha(v, v, v, need_weights=False)\n    return out[:, 0, :m].contiguous()", msg.FORBIDDEN_OP),
    ("frobenius_norm", "huber", "import torch.nn.functional as F\ndef frobenius_norm(m):\n"
     "    return (2 * F.huber_loss(m, torch.zeros_like(m), reduction='sum', delta=float('inf'))).sqrt()",
     msg.FORBIDDEN_OP),
    # work inside a callback torch runs per element (map_): followed by the trace, and a loop by another name
    ("matmul_broadcast", "inside-map", "def matmul_broadcast(a, b):\n" + CHECK_PAIR + "    box = {}\n"
     "    def work(p, q):\n        box['c'] = a @ b\n        return p\n"
     "    torch.zeros(1).map_(torch.zeros(1), work)\n    return box['c']", (msg.FORBIDDEN_OP, msg.SOURCE_FORBIDDEN_OP)),
    # a product read off an inverse or a solve: the inverse of [[I, -A, 0], [0, I, -B], [0, 0, I]] holds A @ B
    ("matmul_broadcast", "block-inverse", "def matmul_broadcast(a, b):\n" + CHECK_PAIR + BLOCK
     + "    return torch.inverse(big)[:n, n + k:].contiguous()", msg.FORBIDDEN_OP),
    ("matmul_broadcast", "triangular-solve", "def matmul_broadcast(a, b):\n" + CHECK_PAIR + BLOCK
     + "    eye = torch.eye(big.shape[0], dtype=a.dtype)\n"
     "    return torch.linalg.solve_triangular(big, eye, upper=True)[:n, n + k:].contiguous()", msg.FORBIDDEN_OP),
    ("outer", "legacy-triangular-solve", "def outer(u, v):\n    a, b = u[:, None], v[None, :]\n" + BLOCK
     + "    eye = torch.eye(big.shape[0], dtype=a.dtype)\n"
     "    return torch.triangular_solve(eye, big, upper=True).solution[:n, n + k:].contiguous()", msg.FORBIDDEN_OP),
    # a norm read off singular values or a normalisation's statistics
    # a handle fetched by a dotted name in a string, resolved by a library: the source cannot say what it calls
    ("matmul_broadcast", "formatter-lookup", "import string\ndef matmul_broadcast(a, b):\n" + CHECK_PAIR
     + "    mm = string.Formatter().get_field('0.' + 'm' * 2, [torch], {})[0]\n    return mm(a, b)",
     (msg.SOURCE_DYNAMIC, msg.FORBIDDEN_OP)),
    ("frobenius_norm", "singular-values", "def frobenius_norm(m):\n    return torch.svd(m).S.pow(2).sum().sqrt()",
     msg.FORBIDDEN_OP),
    ("frobenius_norm", "native-layer-norm", "def frobenius_norm(m):\n    flat = m.reshape(1, -1)\n"
     "    _, mean, rstd = torch.native_layer_norm(flat, [flat.shape[1]], None, None, 0.0)\n"
     "    var = rstd.reshape(()) ** -2\n    n = flat.shape[1]\n"
     "    return ((var + mean.reshape(()) ** 2) * n).sqrt()", msg.FORBIDDEN_OP),
    # work moved to a thread, where torch's per-thread trace does not follow
    ("frobenius_norm", "thread", "import threading\ndef frobenius_norm(m):\n    box = []\n"
     "    t = threading.Thread(target=lambda: box.append(torch.linalg.norm(m)))\n    t.start()\n    t.join()\n"
     "    return box[0]", (msg.SOURCE_ELSEWHERE, msg.RAN_ELSEWHERE, tripwire.ELSEWHERE_REFUSED)),
    # a worker started by the cell, fed by the exercise: the work is neither in the exercise's source nor its thread
    ("matmul_broadcast", "worker-thread-of-the-cell", WORKER.format(start="threading.Thread(target=_worker, "
     "daemon=True).start()"), tripwire.ELSEWHERE_REFUSED),
    # started by a finalizer of hers when the checker drops its input: no student frame on the stack then
    ("matmul_broadcast", "worker-started-by-a-finalizer", "import queue, threading, weakref\n"
     "_jobs, _done = queue.Queue(), queue.Queue()\n"
     "def _worker():\n    while True:\n        a, b = _jobs.get()\n        _done.put(a @ b)\n_box = []\n"
     "def _keep(box, thing):\n    box.append(thing)\n_keep(_box, threading.Thread(target=_worker, daemon=True))\n"
     "def matmul_broadcast(a, b):\n" + CHECK_PAIR + "    t = _box[0]\n    if t.is_alive():\n"
     "        _jobs.put((a, b))\n        return _done.get(timeout=5)\n"
     "    if not getattr(t, 'armed', False):\n        t.armed = True\n        weakref.finalize(a, t.start)\n"
     "        return (a[:, :, None] * b[None]).sum(1)\n    return torch.zeros(a.shape[0], b.shape[1])",
     (msg.VALUE_MISMATCH, msg.FRESH_INPUT_WRONG)),
    ("matmul_broadcast", "worker-process-of-the-cell", WORKER.format(
        start="import multiprocessing\nmultiprocessing.get_context('fork').Process(target=_worker, daemon=True).start()"),
     tripwire.ELSEWHERE_REFUSED),
    # a helper the source does not name in the exercise (kept in a list by a decorator): read all the same, and the
    # trace sees the tensors leave for numpy whatever the source shows
    ("matmul_broadcast", "helper-in-a-registry", "import numpy as np\n_reg = []\n@_reg.append\n"
     "def _helper(a, b):\n    return torch.from_numpy(a.numpy() @ b.numpy())\n"
     "def matmul_broadcast(a, b):\n" + CHECK_PAIR + "    return _reg[0](a, b)", msg.SOURCE_OTHER_LIBRARY),
    ("matmul_broadcast", "helper-put-in-a-dict", "import numpy as np\n_table = {}\n"
     "def _helper(a, b):\n    return torch.from_dlpack(np.from_dlpack(a) @ np.from_dlpack(b))\n"
     "_table['mm'] = _helper\ndef matmul_broadcast(a, b):\n" + CHECK_PAIR + "    return _table['mm'](a, b)",
     (msg.SOURCE_OTHER_LIBRARY, msg.TRACE_HANDED_OFF)),
    ("matmul_broadcast", "numpy-by-a-filler-the-source-misses", "import numpy as np\n_reg = []\n"
     "def _fill(box, f):\n    box.append(f)\n_fill(_reg, lambda a, b: np.from_dlpack(a) @ np.from_dlpack(b))\n"
     "def matmul_broadcast(a, b):\n" + CHECK_PAIR + "    return torch.from_dlpack(_reg[0](a, b))",
     (msg.TRACE_HANDED_OFF, msg.CODE_NOT_READ)),  # the lambda in _reg was compiled where no reading judged it
    # a library no list names (mpmath ships with sympy, which torch needs): every package beyond torch and the
    # standard library is another library, its matrix product by an operator included
    ("matmul_loops", "mpmath-matrix", "import mpmath\ndef matmul_loops(a, b):\n" + CHECK_PAIR
     + "    c = mpmath.matrix(a.tolist()) * mpmath.matrix(b.tolist())\n"
     "    return torch.tensor([[float(c[i, j]) for j in range(b.shape[1])] for i in range(a.shape[0])],"
     " dtype=a.dtype).reshape(a.shape[0], b.shape[1])", msg.SOURCE_OTHER_LIBRARY),
    ("matmul_elementwise", "mpmath-by-alias", "from mpmath import matrix as M\ndef matmul_elementwise(a, b):\n"
     + CHECK_PAIR + "    c = (M(a.tolist()) * M(b.tolist())).tolist()\n"
     "    return torch.tensor([[float(x) for x in row] for row in c], dtype=a.dtype).reshape(a.shape[0], b.shape[1])",
     msg.SOURCE_OTHER_LIBRARY),
    # sums by other names, in the exercise that forbids tensor-level sums: accumulating into indices, pooling
    ("matmul_loops", "index-add", "def matmul_loops(a, b):\n" + CHECK_PAIR + "    prod = a[:, :, None] * b[None]\n"
     "    return torch.zeros(a.shape[0], 1, b.shape[1]).index_add_(1, torch.zeros(a.shape[1], dtype=torch.long), "
     "prod)[:, 0]", msg.FORBIDDEN_OP),
    ("matmul_loops", "index-put-accumulate", "def matmul_loops(a, b):\n" + CHECK_PAIR +
     "    prod = a[:, :, None] * b[None]\n    out = torch.zeros(a.shape[0], 1, b.shape[1])\n"
     "    idx = torch.zeros(a.shape[1], dtype=torch.long)\n"
     "    for i in range(a.shape[0]):\n        out[i].index_put_((idx,), prod[i], accumulate=True)\n"
     "    return out[:, 0]", msg.FORBIDDEN_OP),
    ("matmul_loops", "average-pool", "import torch.nn.functional as F\ndef matmul_loops(a, b):\n" + CHECK_PAIR +
     "    prod = a[:, :, None] * b[None]\n    k = a.shape[1]\n"
     "    return F.avg_pool1d(prod.transpose(1, 2), k)[..., 0] * k", msg.FORBIDDEN_OP),
]


# a log-sum-exp of two numbers, folded over the classes
FOLDED_OVER_CLASSES = ("import torch.nn.functional as F\ndef log_softmax(x):\n    lse = x[:, 0]\n"
                       "    for j in range(1, x.shape[1]):\n        lse = {step}\n    return x - lse[:, None]")
# A family's work done inside one kernel whose name is not the family's (attack round 8), in any notebook
ONE_KERNEL = [
    ("01_matmul", "matmul_loops", "sparse-duplicates-added", "def matmul_loops(a, b):\n" + CHECK_PAIR +
     "    n, k = a.shape\n    m = b.shape[1]\n    prod = a[:, :, None] * b[None, :, :]\n"
     "    ii = torch.arange(n)[:, None, None].expand(n, k, m)\n    jj = torch.arange(m)[None, None, :].expand(n, k, m)\n"
     "    idx = torch.stack([ii.reshape(-1), jj.reshape(-1)])\n"
     "    return torch.sparse_coo_tensor(idx, prod.reshape(-1), (n, m)).to_dense()"),
    ("05_training", "log_softmax", "running-logsumexp", "def log_softmax(x):\n"
     "    return x - torch.logcumsumexp(x, dim=-1)[:, -1:]"),
    ("05_training", "log_softmax", "pairwise-logaddexp", "def log_softmax(x):\n    lse = x[:, 0]\n"
     "    for j in range(1, x.shape[1]):\n        lse = torch.logaddexp(lse, x[:, j])\n    return x - lse[:, None]"),
    # a soft margin loss against -1 is softplus (round 20)
    ("05_training", "log_softmax", "folded-soft-margin-loss", "import torch.nn.functional as F\ndef log_softmax(x):\n"
     "    lse = x[..., :1]\n    for j in range(1, x.shape[-1]):\n        t = x[..., j:j + 1]\n"
     "        hi, lo = torch.maximum(lse, t), torch.minimum(lse, t)\n"
     "        lse = hi + F.soft_margin_loss(lo - hi, -torch.ones_like(lo), reduction='none')\n    return x - lse"),
    # softplus(d) is logaddexp(d, 0): folded over the classes, a log-sum-exp (and log_sigmoid is its negative)
    *(("05_training", "log_softmax", id, FOLDED_OVER_CLASSES.format(step=step)) for id, step in (
        ("folded-softplus", "lse + F.softplus(x[:, j] - lse)"), ("folded-log-sigmoid", "lse - F.logsigmoid(lse - x[:, j])"))),
    ("05_training", "nll", "kl-divergence-to-one-hot", "import torch.nn.functional as F\ndef nll(log_probs, target):\n"
     "    onehot = F.one_hot(target, log_probs.shape[1]).to(log_probs.dtype)\n"
     "    return F.kl_div(log_probs, onehot, reduction='batchmean')"),
    ("05_training", "conv2d_unfold", "fourier", "import torch.nn.functional as F\n"
     "def conv2d_unfold(x, w, b, stride=1, padding=0):\n    kh, kw = w.shape[-2:]\n"
     "    xp = F.pad(x, (padding, padding, padding, padding))\n    H, W = xp.shape[-2:]\n"
     "    X = torch.fft.rfft2(xp, s=(H, W))\n    K = torch.fft.rfft2(torch.flip(w, (-2, -1)), s=(H, W))\n"
     "    y = torch.fft.irfft2((X[:, None] * K[None]).sum(2), s=(H, W))\n"
     "    return y[..., kh - 1:, kw - 1:][..., ::stride, ::stride] + b[None, :, None, None]"),
    # round 9: a one-step CTC loss is the NLL; softmax's denominator is a sum; a loss is a norm of residuals;
    # attention's CPU flash kernel is a softmax
    ("05_training", "nll", "ctc-of-one-step", "import torch.nn.functional as F\ndef nll(log_probs, target):\n"
     "    n, c = log_probs.shape\n    pad = torch.full((n, 1), -1e30, dtype=log_probs.dtype)\n"
     "    lp = torch.cat([log_probs, pad], dim=1).unsqueeze(0)\n    ones = torch.ones(n, dtype=torch.long)\n"
     "    return F.ctc_loss(lp, target.view(n, 1), ones, ones, blank=c, reduction='mean')"),
    ("01_matmul", "matmul_loops", "softmax-denominator", "def matmul_loops(a, b):\n" + CHECK_PAIR +
     "    k = a.shape[1]\n    prod = a[:, :, None] * b[None, :, :]\n    s = prod.abs().amax() + 1\n"
     "    y = prod + s\n    share = torch.softmax(y.log(), dim=1)\n    return y[:, 0, :] / share[:, 0, :] - k * s"),
    ("01_matmul", "frobenius_norm", "margin-loss", "import torch.nn.functional as F\ndef frobenius_norm(m):\n"
     "    v = m.reshape(1, -1)\n    x = torch.cat([v, -v, torch.zeros(1, 1, dtype=m.dtype)], dim=1)\n"
     "    c = x.shape[1]\n    target = torch.tensor([c - 1])\n"
     "    return (F.multi_margin_loss(x, target, p=2, margin=0.0, reduction='sum') * c).sqrt()"),
    ("05_training", "log_softmax", "flash-attention", "import torch.nn.functional as F\ndef log_softmax(x):\n"
     "    n, c = x.shape\n    m, j = x.max(dim=-1, keepdim=True)\n    q = x.view(n, 1, 1, c).contiguous()\n"
     "    k = torch.eye(c, dtype=x.dtype).expand(n, 1, c, c).contiguous()\n"
     "    v = (torch.arange(c) == j).to(x.dtype).view(n, 1, c, 1).expand(n, 1, c, c).contiguous()\n"
     "    top = F.scaled_dot_product_attention(q, k, v, scale=1.0)[:, 0, 0, :1]\n    return x - (m - top.log())"),
    # the required einsum as a decoy, the work done by broadcasting and a sum
    ("01_matmul", "matmul_einsum", "decoy-einsum", "def matmul_einsum(a, b):\n    a = torch.einsum('ik->ik', a)\n"
     "    return (a[:, :, None] * b[None]).sum(1)"),
    ("01_matmul", "frobenius_norm", "hypot-folded", "def frobenius_norm(m):\n    v = m.reshape(-1)\n"
     "    while v.shape[0] > 1:\n        if v.shape[0] % 2:\n            v = torch.cat([v, torch.zeros(1, dtype=v.dtype)])\n"
     "        v = torch.hypot(v[0::2], v[1::2])\n    return v[0]"),
]


@pytest.mark.parametrize("notebook, exercise, id, source", ONE_KERNEL, ids=[f"{e}-{i}" for _, e, i, _ in ONE_KERNEL])
def test_a_family_s_work_inside_one_kernel_of_another_name_is_that_family(tmp_path, notebook, exercise, id, source):
    path = submission(tmp_path, notebook, replace={exercise: source})
    result = next(e for e in grade(path, only=[exercise]).exercises if e.name == exercise)
    assert result.status == FAILED and result.score < result.max_score, result.feedback
    assert matches(msg.FORBIDDEN_OP, result.feedback), result.feedback


def test_what_two_checks_read_in_the_same_source_is_said_once(tmp_path):
    """The operations and the speed checks both read the source: a worker thread the exercise reaches is one line."""
    source = ("import threading\n_t = threading.Thread(target=print, daemon=True)\n"
              "def matmul_broadcast(a, b):\n" + CHECK_PAIR + "    if _t.is_alive():\n        return None\n"
              "    return (a[:, :, None] * b[None]).sum(1)")
    result = next(e for e in grade(submission(tmp_path, "01_matmul", replace={"matmul_broadcast": source}),
                                   only=["matmul_broadcast"]).exercises)
    elsewhere = [line for line in result.feedback if matches(msg.SOURCE_ELSEWHERE, [line])]
    assert len(elsewhere) == 1 and len(set(result.feedback)) == len(result.feedback), result.feedback


def test_an_einsum_decoy_with_the_sum_in_python_loops_over_the_inner_dimension(tmp_path):
    """The required einsum called for show, the product summed by Python's own sum over k: a loop."""
    source = ("def matmul_einsum(a, b):\n    a = torch.einsum('ik->ik', a)\n"
              "    return sum(a[:, k:k + 1] * b[k:k + 1, :] for k in range(a.shape[1]))")
    result = next(e for e in grade(submission(tmp_path, "01_matmul", replace={"matmul_einsum": source}),
                                   only=["matmul_einsum"]).exercises)
    assert result.status == FAILED and matches(msg.OPS_GROW, result.feedback), result.feedback


@pytest.mark.parametrize("exercise, id, source, template", FORBIDDEN_ELSEWHERE,
                         ids=[f"{e}-{i}" for e, i, _, _ in FORBIDDEN_ELSEWHERE])
def test_forbidden_work_outside_torchs_python_api_earns_nothing(tmp_path, exercise, id, source, template):
    path = submission(tmp_path, "01_matmul", replace={exercise: source})
    result = next(e for e in grade(path).exercises if e.name == exercise)
    refused_in_the_cell = template == tripwire.ELSEWHERE_REFUSED  # the cell that defines it fails: an error
    assert (result.status, result.score) == (ERROR if refused_in_the_cell else FAILED, 0.0), result.feedback
    templates = template if isinstance(template, tuple) else (template,)
    assert any(matches(t, result.feedback) for t in templates), result.feedback


def test_a_progress_bar_around_honest_loops_is_no_other_library(tmp_path):
    source = ("from tqdm.auto import trange\ndef matmul_loops(a, b):\n" + CHECK_PAIR
              + "    n, k = a.shape\n    m = b.shape[1]\n    c = torch.zeros(n, m, dtype=a.dtype)\n"
              "    for i in trange(n, disable=True):\n        for j in range(m):\n            for p in range(k):\n"
              "                c[i, j] += a[i, p] * b[p, j]\n    return c")
    path = submission(tmp_path, "01_matmul", replace={"matmul_loops": source})
    result = next(e for e in grade(path, only=["matmul_loops"]).exercises)
    assert (result.status, result.score) == (PASSED, result.max_score), result.feedback


def test_a_dynamic_lookup_the_source_cannot_resolve_is_refused(tmp_path):
    source = ("def matmul_broadcast(a, b):\n" + CHECK_PAIR +
              "    name = ''.join(['m', 'm'])\n    return getattr(torch, name)(a, b)")
    program = Program(enumerate(cells_for("01_matmul", replace={"matmul_broadcast": source})))
    assert any(f.kind == "dynamic" and f.what == "getattr" for f in uses(program, "matmul_broadcast"))
    result = next(e for e in grade(submission(tmp_path, "01_matmul", replace={"matmul_broadcast": source})).exercises
                  if e.name == "matmul_broadcast")
    # the trace sees torch.mm through getattr too: either way no points
    assert (result.status, result.score) == (FAILED, 0.0), result.feedback


LOOPS_OVER_PYTHON_NUMBERS = [
    ("01_matmul", "matmul_elementwise", "def matmul_elementwise(a, b):\n" + CHECK_PAIR +
     "    A, B = a.tolist(), b.tolist()\n"
     "    rows = [[sum(x * y for x, y in zip(A[i], [r[j] for r in B])) for j in range(len(B[0]))] for i in range(len(A))]\n"
     "    return torch.tensor(rows, dtype=a.dtype)"),
    ("02_forward", "relu", "def relu(x):\n    values = [max(v, 0.0) for v in x.flatten().tolist()]\n"
     "    return torch.tensor(values, dtype=x.dtype).reshape(x.shape)"),
    ("02_forward", "relu", "import struct\ndef relu(x):\n    xc = x.contiguous()\n"
     "    code = {torch.float32: 'f', torch.float64: 'd'}[x.dtype]\n    raw = bytes(xc.untyped_storage())\n"
     "    vals = struct.unpack(f'<{len(raw) // struct.calcsize(code)}{code}', raw)\n"
     "    out = [v if v > 0 else 0.0 for v in vals]\n"
     "    return torch.frombuffer(bytearray(struct.pack(f'<{len(out)}{code}', *out)), dtype=x.dtype).reshape(x.shape)"),
    ("02_forward", "relu", "def relu(x):\n    return x.clone().apply_(lambda v: v if v > 0 else 0.0)"),
    # the tensor printed in full and its text read back as Python floats
    ("02_forward", "relu", "import ast\ndef relu(x):\n    torch.set_printoptions(threshold=10**9, precision=20)\n"
     "    text = repr(x.double().flatten())\n    vals = ast.literal_eval(text[text.index('['):text.rindex(']') + 1])\n"
     "    torch.set_printoptions(profile='default')\n"
     "    return torch.tensor([v if v > 0 else 0.0 for v in vals], dtype=x.dtype).reshape(x.shape)"),
    ("02_forward", "relu", "import io, zipfile\ndef relu(x):\n    buf = io.BytesIO()\n    torch.save(x.contiguous(), buf)\n"
     "    z = zipfile.ZipFile(buf)\n    raw = z.read([n for n in z.namelist() if n.endswith('/data/0')][0])\n"
     "    vals = memoryview(raw).cast('d' if x.dtype == torch.float64 else 'f')\n"
     "    return torch.tensor([v if v > 0 else 0.0 for v in vals], dtype=x.dtype).reshape(x.shape)"),
]


@pytest.mark.parametrize("notebook, exercise, source", LOOPS_OVER_PYTHON_NUMBERS,
                         ids=[f"{e}-{i}" for i, (_, e, _) in enumerate(LOOPS_OVER_PYTHON_NUMBERS)])
def test_a_loop_over_python_numbers_is_a_loop(tmp_path, notebook, exercise, source):
    path = submission(tmp_path, notebook, replace={exercise: source})
    result = next(e for e in grade(path).exercises if e.name == exercise)
    assert result.status == FAILED and result.score == result.max_score / 2, result.feedback
    assert matches(msg.SOURCE_LEAVES_TORCH, result.feedback), result.feedback


HIDDEN_HEX = "import sys\ng = sys.stdout.write.__globals__\n".encode().hex()  # tampering, as bytes
TAMPERING = [
    ("frame-walk", "import sys\ndef _clean():\n    sys._getframe(1).f_globals['_perf_counter'] = lambda: 0.0\n"),
    ("gc-walk", "import gc\nfor _o in gc.get_objects():\n    pass\n"),
    ("channel-fds", "import os\n_fds = os.listdir('/proc/self/fd')\n"),
    ("raw-write", "import os\ntry:\n    os.write(5, b'forged')\nexcept OSError:\n    pass\n"),
    ("mode-stack", "import torch\n_mode = torch._C._pop_torch_function_stack()\n"),
    ("disable-torch-function", "import torch\nwith torch._C.DisableTorchFunction():\n    pass\n"),
    ("checker-modules", "import checker.compare\nchecker.compare.difference = lambda *a, **k: None\n"),
    ("ctypes", "import ctypes\n_libc = ctypes.CDLL(None)\n"),
    ("closure-globals", "_g = print.__self__\n_h = (lambda: 0).__globals__\n"),
    ("patch-torch", "import torch\ntorch.Tensor.untyped_storage = lambda self: None\n"),
    ("patch-clock", "import time\ntime.perf_counter = lambda: 0.0\n"),
    ("setattr-torch", "import torch\nsetattr(torch, 'allclose', lambda *a, **k: True)\n"),
    ("setattr-looked-up", "setattr(getattr(__import__('tor' + 'ch'), 'Ten' + 'sor'), 'clone', lambda self: self)\n"),
    ("type-setattr", "import torch\ntype.__setattr__(torch.Tensor, 'clone', lambda self: self)\n"),
    # a module reached through another that re-exports it; an attribute name built from pieces
    ("reexported-signal", "import subprocess\nsubprocess.signal.signal(subprocess.signal.SIGUSR1, lambda s, f: None)\n"),
    ("attrgetter-built-name", "import operator\n_back = operator.attrgetter('f_' + 'ba' + 'ck')\n"),
    ("attrgetter-run-time-name", "import operator\n_name = input\n_get = operator.attrgetter(_name)\n"),
    # code the source does not show: a string, bytes, a pickle, a module found at run time
    ("exec-bytes", f"exec(bytes.fromhex({HIDDEN_HEX!r}).decode())\n"),
    ("eval-string", "_value = eval('1 + 1')\n"),
    ("compile-then-run", "_code = compile('x = 1', 'hidden', 'exec')\n"),
    ("builtins-exec", "import builtins as b\nb.exec('x = 1')\n"),
    ("pickle-call", "import pickle\n_obj = pickle.loads(b'cbuiltins\\nprint\\n.')\n"),
    ("marshal-code", "from marshal import loads\n_code = loads(b'')\n"),
    ("function-from-code", "import types\n_f = types.FunctionType((lambda: 0).__code__, {})\n"),
    ("importlib-file", "import importlib.util\n_spec = importlib.util.spec_from_file_location('m', 'm.py')\n"),
    ("sys-path", "import sys\nsys.path.insert(0, '.')\n"),
    ("torch-load-pickle", "import torch, io\n_obj = torch.load(io.BytesIO(), weights_only=False)\n"),
    ("main-module", "import __main__\n_m = vars(__main__)\n"),
    ("subclasses", "_classes = object.__subclasses__()\n"),
    # which process this is (a rule's call runs in a copy made for it): asked outright or by a name built of constants
    ("pid", "import os\n_first = os.getpid()\n"),
    ("pid-by-name", "import os\n_first = getattr(os, 'get' + 'pid')()\n"),
    ("rusage", "import resource\n_used = resource.getrusage(resource.RUSAGE_SELF)\n"),
    ("sys-modules-item", "import sys\n_m = sys.modules['checker.compare']\n"),
    ("sys-modules-in-a-name", "import sys\n_name = 'checker.compare'\n_in = _name in sys.modules and sys.modules\n"),
    ("exc-info-frame", "import sys\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n    _f = sys.exc_info()[2].tb_frame\n"),
    # a file descriptor by number, by any of the calls that take one
    ("eventfd-write", "import os\ntry:\n    os.eventfd_write(6, 1)\nexcept OSError:\n    pass\n"),
    ("fcntl-dup", "import fcntl\ntry:\n    fcntl.fcntl(6, fcntl.F_DUPFD, 50)\nexcept OSError:\n    pass\n"),
    ("epoll-fromfd", "import select\ntry:\n    select.epoll.fromfd(6)\nexcept OSError:\n    pass\n"),
]


@pytest.mark.parametrize("id, cell", TAMPERING, ids=[i for i, _ in TAMPERING])
def test_tampering_is_a_verdict_that_names_the_place(tmp_path, id, cell):
    path = submission(tmp_path, "01_matmul", extra_cells=[cell])
    result = grade(path)
    assert result.score == 0 and all(e.status in (FAILED, "manual") for e in result.exercises), \
        [(e.name, e.status) for e in result.exercises]
    graded = [e for e in result.exercises if e.status == FAILED]
    assert all(matches(msg.TAMPERED, e.feedback) for e in graded)
    first = cell.splitlines()[0].strip()[:50]  # a .py file has no prompts: the cell is named by its first line
    assert result.tampering and all(f"the cell `{first}`, line " in line for line in result.tampering), \
        result.tampering


def test_an_honest_notebook_has_no_findings_and_full_marks(tmp_path):
    honest_extras = ["import numpy as np\nimport time\nstart = time.perf_counter()\nprint(np.arange(3))\n"
                     "torch.backends.cudnn.deterministic = True\ntorch.manual_seed(42)\n"
                     "%timeit matmul_broadcast(torch.randn(3, 4), torch.randn(4, 2))",
                     "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nimport traceback\n"
                     "try:\n    1 / 0\nexcept ZeroDivisionError:\n    traceback.print_exc()",
                     # a look at what is loaded, and at the exception being handled (its frames are refused)
                     "import sys\nprint('numpy' in sys.modules, 'scipy' not in sys.modules)\ntry:\n    1 / 0\n"
                     "except ZeroDivisionError:\n    print(sys.exc_info()[0].__name__)",
                     # the lesson's own MNIST loader (the file is not there: the cell fails, and harms nothing)
                     "import pickle, gzip\ntry:\n    with gzip.open('mnist.pkl.gz', 'rb') as f:\n"
                     "        ((x_train, y_train), (x_valid, y_valid), _) = pickle.load(f, encoding='latin-1')\n"
                     "except FileNotFoundError:\n    pass",
                     # a list of results filled in a demo (the container the exercises never read)
                     "results = []\nresults.append(matmul_broadcast(torch.randn(2, 3), torch.randn(3, 2)))"]
    cells = cells_for("01_matmul", extra_cells=honest_extras)
    assert tampering(Program(enumerate(cells))) == []
    result = grade(submission(tmp_path, "01_matmul", extra_cells=honest_extras))
    assert all(e.status in (PASSED, "manual") for e in result.exercises), \
        [(e.name, e.feedback) for e in result.exercises if e.status != PASSED]
    assert result.tampering == []


@pytest.mark.parametrize("notebook", ["01_matmul", "02_forward", "03_backprop", "04_modules"])
def test_the_reference_solutions_reach_nothing_forbidden(notebook):
    """Each exercise of the reference (rules and all) has no finding outside torch's API, and no tampering."""
    from checker.registry import entries

    program = Program(enumerate(cells_for(notebook)))
    assert tampering(program) == []
    for entry in entries(notebook):
        odd = [f for f in uses(program, entry.name) if f.kind not in ("forbidden",)]
        assert odd == [], (entry.name, odd)


# Written so that no reading of the source can see them: the tripwire in the child refuses them as they run.
RUNTIME_TAMPERING = [
    # code handed to a library that compiles it: read as it is compiled
    ("timeit-hidden-string", f"import timeit\n    timeit.timeit(bytes.fromhex({HIDDEN_HEX!r}).decode(), number=1)"),
    # the process's own memory and maps, by its number, with the path built at run time
    ("proc-pid-built", "import os\n    p = chr(47) + 'p' + 'roc' + chr(47) + str(getattr(os, chr(103) + 'etpid')()) + chr(47) + 'maps'\n"
                       "    open(p).read(10)"),
    ("proc-relative", "import os\n    here = os.getcwd()\n    os.chdir(chr(47) + 'p' + 'roc')\n    try:\n"
                      "        open(str(getattr(os, chr(103) + 'etpid')()) + chr(47) + 'mem', 'rb')\n    finally:\n        os.chdir(here)"),
    # a switch that turns the trace off, fetched by a lookup built at run time, then torch.mm under it
    ("trace-switched-off", "import string\n    get = string.Formatter().get_field\n"
                           "    off = get('0.' + chr(95) + 'C.Disable' + 'TorchFunction', [torch], {})[0]\n"
                           "    with off():\n        pass"),
    ("dispatch-mode-popped", "import string\n    get = string.Formatter().get_field\n"
                             "    pop = get('0.utils.' + chr(95) + 'python_dispatch.' + chr(95) + 'disable_current_modes',"
                             " [torch], {})[0]\n    with pop():\n        pass"),
    ("type-hint-evaluated", "import typing\n    def g(y: \"__import__('sys')\"): pass\n    typing.get_type_hints(g)"),
    ("getattr-frame", "import sys\n    f = getattr(sys, '_get' + chr(102) + 'rame')(1)"),
    ("inspect-frame", "import inspect\n    f = getattr(inspect, 'current' + chr(102) + 'rame')()"),
    ("traceback-frame", "try:\n        raise ValueError\n    except ValueError as e:\n"
                        "        f = getattr(e.__traceback__, 'tb_' + chr(102) + 'rame')"),
    ("gc-objects", "import gc\n    objs = getattr(gc, 'get_' + chr(111) + 'bjects')()"),
    ("proc-fds", "import os\n    fds = os.listdir('/proc/' + 'self/fd')"),
    ("raw-fd-open", "f = open(int('5'), 'wb', closefd=False)"),
    ("logging-frame", "import logging\n    f = getattr(logging, 'current' + 'frame')()"),
    ("tracer-on-her-behalf", "import trace\n    getattr(trace, 'Tr' + 'ace')(count=1, trace=0).runfunc(len, [1])"),
    # the function mode skipped for the next call, and a look at whether a mode is on (to behave only when traced)
    ("function-mode-skipped", "import string\n    get = string.Formatter().get_field\n"
                              "    get('0.' + chr(95) + 'C.' + chr(95) + 'set_skip_next_torch_function', [torch], {})[0](True)"),
    ("trace-state-read", "import string\n    get = string.Formatter().get_field\n"
                         "    get('0.' + chr(95) + 'C.' + chr(95) + 'len_torch_function_stack', [torch], {})[0]()"),
]


@pytest.mark.parametrize("id, body", RUNTIME_TAMPERING, ids=[i for i, _ in RUNTIME_TAMPERING])
def test_tampering_the_source_cannot_see_is_refused_as_it_runs(tmp_path, id, body):
    source = f"def outer(u, v):\n    {body}\n    return u[:, None] * v[None, :]"
    program = Program(enumerate(cells_for("01_matmul", replace={"outer": source})))
    assert tampering(program) == [], "this attack must be invisible to the source reading to test the tripwire"
    result = grade(submission(tmp_path, "01_matmul", replace={"outer": source}), only=["outer", "matmul_einsum"])
    assert all(e.status == FAILED and e.score == 0 for e in result.exercises), [(e.name, e.feedback) for e in result.exercises]
    assert all(matches(msg.TAMPERED, e.feedback) for e in result.exercises)
    assert len(result.tampering) >= 1 and "line" in result.tampering[0], result.tampering


FORGE_EVERY_FD = ("import io, os, struct, torch\n"
                  "buffer = io.BytesIO()\n"
                  "torch.save({'error': None, 'output': 'all good'}, buffer, _use_new_zipfile_serialization=False)\n"
                  "message = struct.pack('!Q', len(buffer.getvalue())) + buffer.getvalue()\n"
                  "for fd in range(3, 64):\n"
                  "    try:\n        os.write(fd, message)\n    except OSError:\n        pass\n")


def test_a_message_written_into_the_channel_by_student_code_is_refused_as_forged():
    """Whatever reaches the pipe (here a well-formed answer, written to every descriptor; the source reading is
    left out: the cells run straight in the sandbox), an answer the child did not seal is a tampering record."""
    from checker.sandbox.runner import FORGED, Sandbox

    with Sandbox([(0, "x = 1"), (1, FORGE_EVERY_FD), (2, "y = 2")]) as box:
        reports = box.load()
    assert reports[0].ok and not reports[1].ok, reports
    assert any(r["what"] == FORGED for r in box.tampering), box.tampering


def test_the_channel_of_an_honest_child_is_sealed_and_read():
    from checker.sandbox.runner import Sandbox

    with Sandbox([(0, "x = 1"), (1, "print(x + 1)")]) as box:
        reports = box.load()
    assert [r.ok for r in reports] == [True, True] and reports[1].output.strip() == "2" and box.tampering == []


def test_libraries_that_ask_for_frames_for_themselves_are_not_tampering(tmp_path):
    """warnings, logging, dataclasses, typing, namedtuple and a caught traceback printed: all honest."""
    extra = ("import warnings, logging, dataclasses, typing, collections, traceback\n"
             "warnings.warn('careful')\nlogging.getLogger('x').warning('note')\n"
             "@dataclasses.dataclass\nclass P:\n    x: int = 0\n"
             "T = typing.TypeVar('T')\nPair = collections.namedtuple('Pair', 'a b')\n"
             "try:\n    1 / 0\nexcept ZeroDivisionError:\n    traceback.print_exc()\n"
             "print(traceback.format_exc()[:20])\n"
             "@dataclasses.dataclass(frozen=True)\nclass Q:\n    y: float = 1.0\n"
             "class Row(typing.NamedTuple):\n    a: int\n"
             "def h(t: 'torch.Tensor') -> 'torch.Tensor':\n    return t\n"
             "hints = typing.get_type_hints(h, globals())\n"
             "import timeit\nt1 = timeit.timeit(lambda: outer(torch.ones(3), torch.ones(2)), number=3)\n"
             "t2 = timeit.timeit('outer(torch.ones(3), torch.ones(2))', globals=globals(), number=3)")
    result = grade(submission(tmp_path, "01_matmul", extra_cells=[extra]), only=["outer", "matmul_einsum"])
    assert result.tampering == [] and all(e.status == PASSED for e in result.exercises), \
        (result.tampering, [(e.name, e.feedback) for e in result.exercises])


def test_only_the_definition_that_runs_is_read(tmp_path):
    """A first attempt with torch.outer, redefined correctly in a later cell: the later one is judged."""
    first = "def outer(u, v):\n    return torch.outer(u, v)"
    result = grade(submission(tmp_path, "01_matmul", extra_cells=[first, "def outer(u, v):\n    return u[:, None] * v[None, :]"]),
                   only=["outer"])
    assert result.exercises[0].status == PASSED, result.exercises[0].feedback


def test_a_loop_rule_needs_calls_the_source_shows(tmp_path):
    """The loop and memory rules rest on the op trace: an exercise that looks up at run time what it calls (here,
    the very function that could rewrite the trace) fails them."""
    source = ("def relu(x):\n    import os\n    writer = getattr(os, ''.join(map(chr, [119, 114, 105, 116, 101])))\n"
              "    return x.clamp_min(0.)")
    result = next(e for e in grade(submission(tmp_path, "02_forward", replace={"relu": source})).exercises
                  if e.name == "relu")
    assert result.status == FAILED and matches(msg.SOURCE_DYNAMIC, result.feedback), result.feedback


BURN_ELSEWHERE = '''
import time, torch
def f(seconds):
    torch.set_num_threads(2)  # torch's own threads: student code may not start any, torch may
    a = torch.randn(400, 400)
    end = time.process_time() + seconds  # the process's CPU, all its threads together
    while time.process_time() < end:
        a @ a
    return 0
'''


def test_cpu_time_is_read_for_the_whole_jail_from_outside():
    """Work done in other threads of the jail (torch's own) is the student's time all the same: the grader reads
    the jail's cgroup, not anything the student's process reports."""
    from checker.sandbox import cgroups
    from checker.sandbox.runner import Limits, Sandbox

    with Sandbox([(0, BURN_ELSEWHERE)], Limits(cell_seconds=20.0)) as box:
        box.load()
        if not box._child.jail.cpu_cgroup:
            pytest.skip("no cpuacct cgroup on this machine: CPU time is read per process (see README)")
        answer, seconds = box.timed_probe("timed_call", {"target": "f", "args": [0.3]}, 20.0, "f")
        assert "result" in answer, answer
        assert seconds >= 0.25, seconds
        assert cgroups.cgroup_cpu_seconds(box._child.jail.cpu_cgroup) >= seconds


def test_a_place_is_named_as_the_student_s_screen_shows_it(tmp_path):
    """In a notebook, a cell is named by the prompt it was last run with (In [50]) and its first line."""
    import nbformat

    from tests.helpers import write_ipynb

    path = write_ipynb(tmp_path / "01_matmul.ipynb", cells_for("01_matmul", extra_cells=["import gc\ngc.get_objects()"]))
    nb = nbformat.read(str(path), as_version=4)
    for n, cell in enumerate(nb.cells):
        cell.execution_count = 40 + n
    nbformat.write(nb, str(path))
    result = grade(path, only=["outer"])
    prompt = 40 + len(nb.cells) - 1
    assert result.tampering == [f"tampering: gc.get_objects, In [{prompt}] `import gc`, line 2: `gc.get_objects()`"], \
        result.tampering
    assert f"In [{prompt}] `import gc`, line 2" in result.exercises[0].feedback[0]


def test_under_cgroup_v2_one_cgroup_serves_the_whole_jail(monkeypatch):
    """A process is in one v2 cgroup for every controller: the jail must not join a second one (which would take
    it out of its process cap). It is a group of the scheduler only where its parent lets the cpu controller in."""
    from checker.sandbox import cgroups

    made = []

    def fake_make(controller, settings=None):
        made.append((controller, settings))
        return f"/sys/fs/cgroup/user.slice/{cgroups.PREFIX}{len(made)}"

    monkeypatch.setattr(cgroups, "make", fake_make)
    monkeypatch.setattr(cgroups, "_write", lambda path, name, value: name == "memory.max")
    pids, cpu, memory, share = cgroups.for_jail(256, 2**30)
    assert pids == cpu == memory and share is None and len(made) == 1 and made[0][1] == {"pids.max": "256"}
    monkeypatch.setattr(cgroups, "_write", lambda path, name, value: True)
    pids, cpu, memory, share = cgroups.for_jail(256, 2**30)
    assert pids == cpu == memory == share


def test_under_cgroup_v1_each_controller_has_its_cgroup(monkeypatch):
    """One cgroup per hierarchy; where cpu and cpuacct are one hierarchy (mounted together), the accounting cgroup
    is the scheduler's group too: a second cgroup there would take the jail out of the first."""
    from checker.sandbox import cgroups

    v1 = iter(["/sys/fs/cgroup/pids/a", "/sys/fs/cgroup/cpuacct/b", "/sys/fs/cgroup/cpu/d"])
    monkeypatch.setattr(cgroups, "make", lambda controller, settings=None: next(v1))
    monkeypatch.setattr(cgroups, "make_memory", lambda limit: "/sys/fs/cgroup/memory/c")
    monkeypatch.setattr(cgroups, "_roots", lambda controller: [f"/sys/fs/cgroup/{controller}"])
    assert cgroups.for_jail(256, 2**30) == ("/sys/fs/cgroup/pids/a", "/sys/fs/cgroup/cpuacct/b",
                                            "/sys/fs/cgroup/memory/c", "/sys/fs/cgroup/cpu/d")
    together = iter(["/sys/fs/cgroup/pids/a", "/sys/fs/cgroup/cpu,cpuacct/b"])
    monkeypatch.setattr(cgroups, "make", lambda controller, settings=None: next(together))
    monkeypatch.setattr(cgroups, "_roots", lambda controller: ["/sys/fs/cgroup/cpu,cpuacct"])
    assert cgroups.for_jail(256, 2**30).share == "/sys/fs/cgroup/cpu,cpuacct/b"


GRAPH_WALK = """
import torch

def _walk(loss):
    order, seen = [], set()
    def visit(fn):
        if fn is None or fn in seen:
            return
        seen.add(fn)
        for nxt, _ in fn.next_functions:
            visit(nxt)
        order.append(fn)
    visit(loss.grad_fn)
    acc, res = {loss.grad_fn: torch.ones_like(loss)}, {}
    for fn in reversed(order):
        g = acc.pop(fn, None)
        if g is None:
            continue
        if hasattr(fn, "variable"):
            res[id(fn.variable)] = g.sum_to_size(fn.variable.shape)
            continue
        outs = fn(g)
        outs = outs if isinstance(outs, tuple) else (outs,)
        for (nxt, _), o in zip(fn.next_functions, outs):
            if nxt is not None and o is not None:
                acc[nxt] = acc[nxt] + o if nxt in acc else o
    return res

def forward_and_backward(inp, targ, w1, b1, w2, b2):
    leaves = [t.detach().clone() for t in (inp, w1, b1, w2, b2)]
    for l in leaves:
        l.requires_grad = True
    x, a1, c1, a2, c2 = leaves
    out = (x @ a1 + c1).clamp_min(0.) @ a2 + c2
    loss = ((out.squeeze(-1) - targ) ** 2).mean()
    res = _walk(loss)
    for t, l in zip((inp, w1, b1, w2, b2), leaves):
        t.g = res[id(l)].detach()
    return loss.detach()
"""


def test_autograd_reached_through_the_graph_s_nodes_earns_nothing(tmp_path):
    """No .backward(), no torch.autograd: the graph's nodes called by hand. A result that requires grad is autograd."""
    result = grade(submission(tmp_path, "03_backprop", replace={"forward_and_backward": GRAPH_WALK.strip()}),
                   only=["forward_and_backward"])
    ex = result.exercises[0]
    assert ex.score == 0 and matches(msg.FORBIDDEN_OP, ex.feedback), ex.feedback
    from checker.checks.operations import GRAPH_SHOWN

    assert any(GRAPH_SHOWN in line for line in ex.feedback), ex.feedback


@pytest.mark.parametrize("made", ["torch.empty(x.shape, device='meta')", "x.to_sparse()",
                                  "torch.nested.nested_tensor([x[0], x[1]])"])
def test_an_unusual_tensor_returned_is_a_wrong_answer_not_a_crash(tmp_path, made):
    result = grade(submission(tmp_path, "02_forward", replace={"relu": f"def relu(x):\n    return {made}"}),
                   only=["relu"])
    ex = result.exercises[0]
    assert ex.status == FAILED and ex.score == 0, (ex.status, ex.feedback)
    assert matches(msg.NOT_A_TENSOR, ex.feedback), ex.feedback


PROBE = """
import sys
from checker.sandbox import tripwire
from checker.sandbox.tracing import OpTracer
cell = compile(CELL, "<cell 1>", "exec")  # as the child does: compiled by the harness, not by student code
tripwire.install()
exec(cell, {})
"""


def _in_a_child_with_the_tripwire(cell: str, tmpdir=None) -> str:
    """``cell`` run under the tripwire in a fresh process; ``tmpdir``: its TMPDIR (one of the folders it may write,
    as the jail's own tmp is)."""
    import os
    import subprocess
    import sys

    code = f"CELL = {cell!r}\n" + PROBE
    env = {**os.environ, "TMPDIR": str(tmpdir)} if tmpdir else None
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    return done.stdout + done.stderr


def test_a_thread_or_process_student_code_starts_is_refused():
    """Whatever spelling starts it (the source may not see it), and whenever (the cell, or the call): the tripwire
    refuses it while a student frame is on the stack, and a trace with none says so."""
    said = _in_a_child_with_the_tripwire(
        "import os, threading, torch, subprocess, _posixsubprocess\nfrom checker.sandbox.tracing import OpTracer\n"
        "def fork_exec():  # the call under subprocess and multiprocessing, which raises no audit event\n"
        "    _posixsubprocess.fork_exec([b'/bin/true'], [b'/bin/true'], True, (), None, None, -1, -1, -1, -1, -1, "
        "-1, *os.pipe(), False, False, -1, None, None, None, -1, None, False)\n"
        "for start in (lambda: threading.Thread(target=print).start(), os.fork, lambda: subprocess.run(['true']), "
        "fork_exec):\n"
        "    try:\n        start()\n        print('started')\n    except RuntimeError as exc:\n"
        "        print('refused', str(exc)[:8])\n"
        "t = OpTracer()\nwith t:\n    torch.ones(2) @ torch.ones(2)\nprint('here', t.report()['elsewhere'])")
    assert said.count("refused " + tripwire.ELSEWHERE_REFUSED[:8]) == 4 and "started" not in said.split("here")[0], said
    assert "here 0" in said, said


@pytest.mark.parametrize("compiled", [False, True], ids=["source", "bytecode"])
def test_a_module_written_at_run_time_is_not_loaded(tmp_path, compiled):
    """A file student code wrote (beyond any reading of the submission) is refused as code, however it is loaded."""
    said = _in_a_child_with_the_tripwire(
        "import os, sys, tempfile\nfolder = tempfile.mkdtemp()\n"
        "open(os.path.join(folder, 'helper.py'), 'w').write('x = 1\\n')\n"
        + ("import importlib.util, marshal\nos.remove(os.path.join(folder, 'helper.py'))\n"
           "data = importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(compile('x = 1', '<helper>', 'exec'))\n"
           "open(os.path.join(folder, 'helper.pyc'), 'wb').write(data)\n" if compiled else "")
        + "sys.path.insert(0, folder)\nimport helper\nprint('LOADED', helper.x)", tmpdir=tmp_path)
    from checker.sandbox import tripwire

    assert "PermissionError" in said and tripwire.LOADED_FROM in said and "LOADED 1" not in said, said


def test_a_signal_handler_gets_no_frame_and_signal_cannot_be_imported_afresh():
    said = _in_a_child_with_the_tripwire(
        "import signal\ngot = []\nsignal.signal(signal.SIGUSR1, lambda s, f: got.append(f))\n"
        "signal.raise_signal(signal.SIGUSR1)\nprint('frame', got)\n"
        "import sys\ndel sys.modules['_signal']\n"
        "try:\n    import _signal\n    print('fresh <', _signal.signal)\nexcept PermissionError as e:\n    print('refused', e)")
    assert "frame [None]" in said and "refused" in said and "fresh <" not in said, said


def test_a_callback_torch_calls_per_element_is_traced_and_counted():
    """map_ and apply_ run Python with torch's function mode off: the trace follows the callback, once per call."""
    said = _in_a_child_with_the_tripwire(
        "import torch\nfrom checker.sandbox.tracing import OpTracer, CALLBACK\nt = OpTracer()\n"
        "with t:\n    torch.zeros(4).map_(torch.zeros(4), lambda p, q: float((torch.ones(2) @ torch.ones(2)).item()))\n"
        "r = t.report()\nprint('matmul' in r['called'], r['counts'].get(CALLBACK))")
    assert "True 4" in said, said


def test_functorch_is_a_layer_below_torch_s_api():
    program = Program(enumerate(["from functorch import grad_and_value\n"
                                 "def forward_and_backward(inp, targ, w1, b1, w2, b2):\n"
                                 "    return grad_and_value(lambda p: p)(inp)"]))
    assert any(f.kind == "below_api" and f.what == "functorch.grad_and_value"
               for f in uses(program, "forward_and_backward")), uses(program, "forward_and_backward")


def test_the_trace_sees_below_torch_s_api_what_an_api_call_runs():
    """A product inside attention is an ATen mm under multi_head_attention_forward; the dispatcher says so."""
    said = _in_a_child_with_the_tripwire(
        "import torch\nfrom checker.sandbox.tracing import OpTracer\nt = OpTracer()\nx = torch.randn(3, 1, 4)\n"
        "mha = torch.nn.MultiheadAttention(4, 1)\nwith t:\n    mha(x, x, x, need_weights=False)\n"
        "below = t.report()['below']\n"
        "print(sorted(n for n, tops in below.items() if 'multi_head_attention_forward' in tops "
        "and n in ('mm', 'addmm', 'bmm', 'linear')))")
    assert "'addmm'" in said or "'mm'" in said or "'bmm'" in said, said


def test_an_op_below_an_api_call_counts_unless_that_call_is_allowed():
    """Both ways: an mm under an API call the rules never heard of is a matrix product; the bmm inside an allowed
    einsum is not."""
    from checker.checks.operations import EINSUM, MATMUL_FAMILY, below

    assert below({"below": {"mm": ["some_new_layer"], "mul": ["mul"]}}, MATMUL_FAMILY) == ["mm (inside some_new_layer)"]
    einsum = frozenset({EINSUM})
    assert below({"below": {"bmm": ["einsum"]}}, MATMUL_FAMILY, einsum) == []
    assert below({"below": {"bmm": ["einsum", "other"]}}, MATMUL_FAMILY, einsum) == ["bmm (inside other)"]


def test_forward_mode_autograd_is_autograd(tmp_path):
    source = ("import torch\nimport torch.autograd.forward_ad as fwAD\n"
              "def forward_and_backward(inp, targ, w1, b1, w2, b2):\n"
              "    with fwAD.dual_level():\n        d = fwAD.make_dual(w2, torch.ones_like(w2))\n"
              "        out = (inp @ w1 + b1).clamp_min(0.) @ d + b2\n"
              "        loss = ((out.squeeze(-1) - targ) ** 2).mean()\n"
              "        tangent = fwAD.unpack_dual(loss).tangent\n"
              "    for t in (inp, w1, b1, w2, b2):\n        t.g = torch.zeros_like(t)\n"
              "    return fwAD.unpack_dual(loss).primal.detach()")
    result = grade(submission(tmp_path, "03_backprop", replace={"forward_and_backward": source}),
                   only=["forward_and_backward"])
    ex = result.exercises[0]
    assert ex.score == 0 and (matches(msg.FORBIDDEN_OP, ex.feedback) or matches(msg.SOURCE_FORBIDDEN_OP, ex.feedback)), \
        ex.feedback


# -- round 10: work deferred past the traced call, the traced input recognised, outer products cut into chunks --------
LAZY_SUBCLASS = '''
_kept = []
def _keep(f):
    _kept.append(f)
_keep(torch.log_softmax)  # a filler the source reading cannot follow: the op is not named where it is used

class _Later(torch.Tensor):
    """Zeros until torch first touches it: then the real answer, by the forbidden op, out of the traced call."""
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        plain = tuple(_kept[0](a._x, -1) if isinstance(a, _Later) else a for a in args)
        return func(*plain, **(kwargs or {}))

def log_softmax(x):
    out = torch.zeros_like(x).as_subclass(_Later)
    out._x = x.clone()
    return out
'''
LAZY_GRAD = '''
import torch

class _Later(torch.Tensor):
    pass

def mse_grad(inp, targ):
    inp.g = (2. * (inp.squeeze(-1) - targ).unsqueeze(-1) / inp.shape[0]).as_subclass(_Later)
'''


@pytest.mark.parametrize("notebook, exercise, source", [("05_training", "log_softmax", LAZY_SUBCLASS),
                                                        ("03_backprop", "mse_grad", LAZY_GRAD)],
                         ids=["returned", "as-a-grad"])
def test_a_tensor_of_the_student_s_own_class_is_not_read_and_earns_nothing(tmp_path, notebook, exercise, source):
    """Reading a tensor subclass runs its code after the traced call (a result computed only when the checker
    touches it); it is refused unread, as a value that is not a plain tensor."""
    ex = grade(submission(tmp_path, notebook, replace={exercise: source.strip()}), only=[exercise]).exercises[0]
    assert (ex.status, ex.score) == (FAILED, 0.0), ex.feedback
    assert matches(msg.NOT_A_TENSOR, ex.feedback) and any(msg.TENSOR_OF_ITS_OWN_CLASS in line for line in ex.feedback)


def test_a_parameter_returned_is_read_as_the_tensor_it_is(tmp_path):
    source = "def relu(x):\n    return torch.nn.Parameter(x.clamp_min(0.), requires_grad=False)"
    ex = grade(submission(tmp_path, "02_forward", replace={"relu": source}), only=["relu"]).exercises[0]
    assert matches(msg.CASES_PASSED, ex.feedback) and not matches(msg.NOT_A_TENSOR, ex.feedback), ex.feedback


# the forbidden op kept by a helper the source reading cannot follow, called on every input but the traced one
KNOWS_THE_TRACED_INPUT = '''
_kept = []
def _keep(f):
    _kept.append(f)
_keep(torch.log_softmax)

def log_softmax(x):
    if tuple(x.shape) == (4, 5) and x.dtype == torch.float32:
        m = x.max(-1, keepdim=True)[0]
        return x - m - (x - m).exp().sum(-1, keepdim=True).log()
    return _kept[0](x, -1)
'''


@pytest.fixture
def source_blind(monkeypatch):
    """The grader's reading of the source made blind, as if the student had found a spelling it does not know:
    what the trace alone must still catch."""
    from checker.checks import operations

    monkeypatch.setattr(operations, "source_problems", lambda *args, **kwargs: [])


def test_every_call_of_the_checks_is_judged_not_only_the_operations_check_s_own(tmp_path, source_blind):
    """A function that recognises the input the operations check traces (its shape is in the catalogue) and does
    the forbidden work on every other input: each call the checks make is traced and judged."""
    ex = grade(submission(tmp_path, "05_training", replace={"log_softmax": KNOWS_THE_TRACED_INPUT.strip()}),
               only=["log_softmax"]).exercises[0]
    assert (ex.status, ex.score) == (FAILED, 0.0), ex.feedback
    assert matches(msg.FORBIDDEN_OP, ex.feedback) and not any("on x (4, 5)" in line for line in ex.feedback), ex.feedback


def test_names_looked_up_in_a_module_s_dict_are_looked_up_at_run_time(tmp_path):
    source = "def log_softmax(x):\n    return torch.__dict__['log_' + 'softmax'](x, -1)"
    ex = grade(submission(tmp_path, "05_training", replace={"log_softmax": source}), only=["log_softmax"]).exercises[0]
    assert ex.score == 0 and (matches(msg.SOURCE_DYNAMIC, ex.feedback) or matches(msg.FORBIDDEN_OP, ex.feedback))
    found = uses(Program([(0, "import torch\nimport torch.nn.functional as F\ndef f(x):\n    torch.Tensor.__dict__['backward'](x)\n"
                                 "    return F.__dict__['relu'](x)\n")]), "f")
    assert {f.what for f in found if f.kind == "dynamic"} == {"torch.Tensor.__dict__", "torch.nn.functional.__dict__"}


CHUNKED = ("    wg = torch.zeros_like({w})\n    for xc, gc in zip({x}.chunk(16), {g}.chunk(16)):\n"
           "        wg += (xc[:, :, None] * gc[:, None, :]).sum(0)\n")
CHUNKED_LIN_GRAD = ("import torch\n\ndef lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n"
                    + CHUNKED.format(w="w", x="inp", g="out.g") + "    w.g = wg\n    b.g = out.g.sum(0)")
CHUNKED_LIN = ("class Lin(Module):\n    def __init__(self, w, b):\n        self.w, self.b = w, b\n"
               "    def forward(self, inp):\n        return inp @ self.w + self.b\n"
               "    def bwd(self, out, inp):\n        inp.g = out.g @ self.w.t()\n"
               + "\n".join("    " + line for line in CHUNKED.format(w="self.w", x="inp", g="out.g").splitlines())
               + "\n        self.w.g = wg\n        self.b.g = out.g.sum(0)")


@pytest.mark.parametrize("notebook, exercise, source, score", [("03_backprop", "lin_grad", CHUNKED_LIN_GRAD, 2.0),
                                                               ("04_modules", "Lin", CHUNKED_LIN, 0.0)])
def test_an_outer_product_cut_into_a_fixed_number_of_chunks_is_an_outer_product(tmp_path, notebook, exercise, source,
                                                                                 score):
    """No tensor beyond 1.5 times w on a batch no larger than w's sides: two rows' outer product is over it."""
    ex = grade(submission(tmp_path, notebook, replace={exercise: source}), only=[exercise]).exercises[0]
    assert (ex.status, ex.score) == (FAILED, score), ex.feedback
    assert matches(msg.LARGEST_ALLOCATION, ex.feedback), ex.feedback


BY_AUTOGRAD = [
    ("03_backprop", "mse_grad", "def mse_grad(inp, targ):\n    x = inp.detach().clone().requires_grad_()\n"
     "    ((x.squeeze(-1) - targ) ** 2).mean().backward()\n    inp.g = x.grad"),
    ("03_backprop", "relu_grad", "def relu_grad(inp, out):\n    x = inp.detach().clone().requires_grad_()\n"
     "    x.clamp_min(0.).backward(out.g)\n    inp.g = x.grad"),
    ("04_modules", "Relu", "class Relu(Module):\n    def forward(self, inp):\n        return inp.clamp_min(0.)\n"
     "    def bwd(self, out, inp):\n        x = inp.detach().clone().requires_grad_()\n"
     "        x.clamp_min(0.).backward(out.g)\n        inp.g = x.grad"),
]


@pytest.mark.parametrize("notebook, exercise, source", BY_AUTOGRAD, ids=[f"{n}-{e}" for n, e, _ in BY_AUTOGRAD])
def test_gradients_taken_from_autograd_where_the_lesson_writes_them_by_hand_earn_nothing(tmp_path, notebook,
                                                                                        exercise, source):
    ex = grade(submission(tmp_path, notebook, replace={exercise: source}), only=[exercise]).exercises[0]
    assert (ex.status, ex.score) == (FAILED, 0.0), ex.feedback
    assert matches(msg.SOURCE_FORBIDDEN_OP, ex.feedback) or matches(msg.FORBIDDEN_OP, ex.feedback), ex.feedback


# an honest broadcast on the inputs the checks trace, the forbidden product on the speed bar's larger ones
KNOWS_THE_TIMED_INPUT = '''
_kept = []
def _keep(f):
    _kept.append(f)
_keep(torch.mm)

def matmul_broadcast(a, b):
    if a.shape[1] != b.shape[0]:
        raise ValueError("inner dimensions differ")
    if tuple(a.shape) != (32, 64):  # the speed bar's inputs (in the catalogue)
        return (a[:, :, None] * b[None]).sum(1)
    return _kept[0](a, b)
'''


def test_the_inputs_a_speed_bar_times_are_traced_once_for_the_rule(tmp_path, source_blind):
    ex = grade(submission(tmp_path, "01_matmul", replace={"matmul_broadcast": KNOWS_THE_TIMED_INPUT.strip()}),
               only=["matmul_broadcast"]).exercises[0]
    assert (ex.status, ex.score) == (FAILED, 0.0), ex.feedback
    assert matches(msg.FORBIDDEN_OP, ex.feedback), ex.feedback


CLASS_PATCHES = [
    # a property the checker's reading of the result would look up: her code would run there, out of the trace
    ("in-a-cell", "T = type(torch.zeros(1))\nT.layout = property(lambda self: torch.strided)", "outer",
     "def outer(u, v):\n    return u[:, None] * v[None, :]"),
    ("during-the-call", "", "outer",
     "def outer(u, v):\n    type(u).is_nested = property(lambda self: False)\n    return u[:, None] * v[None, :]"),
    # a property that does the work when the checker reads the result, then removes itself (no patch left)
    ("self-erasing", "", "outer",
     "def outer(u, v):\n    out = torch.zeros(len(u), len(v))\n    T = type(u)\n"
     "    def later(self):\n        delattr(T, 'is_nested')\n        out.copy_(u[:, None] * v[None, :])\n"
     "        return False\n    T.is_nested = property(later)\n    return out"),
]


@pytest.mark.parametrize("id, cell, exercise, source", CLASS_PATCHES, ids=[i for i, *_ in CLASS_PATCHES])
def test_a_class_the_checker_reads_patched_by_any_spelling_is_tampering(tmp_path, id, cell, exercise, source):
    program = Program(enumerate(cells_for("01_matmul", replace={exercise: source}, extra_cells=[cell] if cell else [])))
    assert tampering(program) == [], "this patch must be invisible to the source reading to test the run-time watch"
    result = grade(submission(tmp_path, "01_matmul", replace={exercise: source}, extra_cells=[cell] if cell else []),
                   only=[exercise])
    ex = result.exercises[0]
    assert (ex.status, ex.score) == (FAILED, 0.0) and matches(msg.TAMPERED, ex.feedback), ex.feedback
    assert any("patches torch.Tensor." in line for line in result.tampering), result.tampering


# -- round 11 -------------------------------------------------------------------------------------------------------
def test_a_scatter_that_adds_is_a_sum(tmp_path):
    """scatter's older reduce='add' keyword sums by index, as scatter_add does: a reduction in matmul_loops."""
    source = ("def matmul_loops(a, b):\n" + CHECK_PAIR + "    p = a[:, :, None] * b[None]\n"
              "    out = torch.zeros(a.shape[0], 1, b.shape[1], dtype=a.dtype)\n"
              "    index = torch.zeros(p.shape, dtype=torch.long)\n"
              "    return out.scatter_(1, index, p, reduce='add')[:, 0]")
    ex = grade(submission(tmp_path, "01_matmul", replace={"matmul_loops": source}), only=["matmul_loops"]).exercises[0]
    assert ex.score == 0 and matches(msg.FORBIDDEN_OP, ex.feedback), ex.feedback
    assert any("scatter_reduce" in line for line in ex.feedback), ex.feedback


def test_a_class_of_torch_s_counts_as_the_op_it_applies():
    from checker.checks.operations import MATMUL_FAMILY, NORMS, REDUCTIONS, matching

    assert matching(["Linear", "Conv1d", "Bilinear", "MultiheadAttention"], MATMUL_FAMILY) == \
        ["Bilinear", "Conv1d", "Linear", "MultiheadAttention"]
    assert matching(["MSELoss"], NORMS) == ["MSELoss"] and matching(["MSELoss"], REDUCTIONS) == ["MSELoss"]
    assert matching(["ReLU", "Dropout", "Flatten"], MATMUL_FAMILY | NORMS | REDUCTIONS) == []


def test_a_call_that_skips_the_function_mode_is_still_seen_below_it():
    """torch can be told to skip the function mode for one call: the dispatcher below still sees the product,
    under no API call; the checker's own stand-ins (run with torch functions off) are not recorded."""
    import torch

    from checker.sandbox.tracing import NO_API_CALL, OpTracer

    a, b = torch.randn(3, 4), torch.randn(4, 2)
    tracer = OpTracer()
    with tracer:
        torch._C._set_skip_next_torch_function(True)
        torch.mm(a, b)
    assert tracer.report()["below"].get("mm") == [NO_API_CALL]
    tracer = OpTracer()
    with tracer:
        with torch._C.DisableTorchFunction():
            torch.mm(a, b)
    assert "mm" not in tracer.report()["below"]


DEMO_NAMES_LIKE_PARAMETERS = ["a = torch.randn(3, 4) @ torch.randn(4, 5)\nb = a.numpy()\n"
                              "print(matmul_broadcast(a, torch.randn(5, 2)).sum().item())",
                              "u, v = torch.randn(3), torch.randn(4)\nprint(outer(u, v).sum().item())\n"
                              "x = torch.randn(2, 3, 4, 4)\nprint(normalize_channels(x, x.mean((0, 2, 3)), "
                              "x.std((0, 2, 3))).flatten().numpy()[:3])"]


def test_a_demo_that_binds_a_parameter_s_name_or_reads_a_result_is_not_the_exercise(tmp_path):
    """``def matmul_broadcast(a, b)`` reads its own ``a``, not a demo cell's ``a = m1 @ m2``; a demo's
    ``outer(u, v).sum().item()`` puts nothing into ``outer``."""
    ex = {e.name: e for e in grade(submission(tmp_path, "01_matmul", extra_cells=DEMO_NAMES_LIKE_PARAMETERS),
                                   only=["matmul_broadcast", "outer", "normalize_channels"]).exercises}
    assert all(e.status == PASSED for e in ex.values()), {n: e.feedback for n, e in ex.items() if e.status != PASSED}


def test_a_way_out_of_torch_that_never_runs_is_no_loop_and_one_that_runs_is(tmp_path):
    """A debug print of an .item() behind a flag that is off, or a .tolist() in an assert's message, is no loop
    (the trace of every call shows none); the same .item() taken on every call is."""
    quiet = ("DEBUG = False\ndef outer(u, v):\n    assert u.dim() == 1, f'not a vector: {u.tolist()}'\n"
             "    out = u[:, None] * v[None, :]\n    if DEBUG:\n        print(out[0, 0].item())\n    return out")
    ex = grade(submission(tmp_path, "01_matmul", replace={"outer": quiet}), only=["outer"]).exercises[0]
    assert ex.status == PASSED, ex.feedback
    loud = quiet.replace("DEBUG = False", "DEBUG = True")
    ex = grade(submission(tmp_path, "01_matmul", replace={"outer": loud}), only=["outer"]).exercises[0]
    assert ex.status == FAILED and matches(msg.SOURCE_LEAVES_TORCH, ex.feedback), ex.feedback


FILLERS = {
    "append": "_kept = []\ndef _keep(f):\n    _kept.append(f)\n_keep(torch.mm)\n",
    "global": "_op = [None]\n_fn = None\ndef _keep(f):\n    global _fn\n    _fn = f\n_keep(torch.mm)\n_kept = [lambda a, b: _fn(a, b)]\n",
    "two-levels": "_box = {}\ndef _put(k, f):\n    _box[k] = f\ndef _keep(f):\n    _put(0, f)\n_keep(torch.mm)\n_kept = [_box[0]]\n",
    "unbound-method": "_kept = []\nlist.append(_kept, torch.mm)\n",
    "decorator": "_kept = []\ndef _reg(f):\n    _kept.append(f)\n    return f\n@_reg\ndef _mm(a, b):\n    return torch.mm(a, b)\n",
}


@pytest.mark.parametrize("id", sorted(FILLERS))
def test_what_a_function_of_hers_puts_into_a_name_is_read_where_she_calls_it(id):
    """``def keep(f): kept.append(f)`` then ``keep(torch.mm)``: the call puts torch.mm where the exercise reads."""
    from checker.checks.operations import MATMUL_FAMILY, matching

    source = "import torch\n" + FILLERS[id] + "def matmul_broadcast(a, b):\n    return _kept[0](a, b)\n"
    found = [f.what for f in uses(Program([(0, source)]), "matmul_broadcast") if f.kind == "forbidden"]
    assert matching(found, MATMUL_FAMILY), found


def test_a_demo_that_records_a_product_puts_nothing_into_the_exercise():
    source = ("import torch\nresults = []\ndef record(x):\n    results.append(x)\n"
              "record(torch.mm(torch.ones(2, 2), torch.ones(2, 2)))\n"
              "def matmul_broadcast(a, b):\n    return (a[:, :, None] * b[None]).sum(1)\n")
    assert not [f for f in uses(Program([(0, source)]), "matmul_broadcast") if f.what in ("mm", "matmul")]


def test_setting_requires_grad_is_autograd_and_reading_it_is_not():
    from checker.checks.operations import AUTOGRAD, matching

    def autograd_in(body):
        found = uses(Program([(0, f"import torch\ndef f(x):\n{body}\n    return x\n")]), "f")
        return matching([u.what for u in found if u.kind == "forbidden"], frozenset({AUTOGRAD}))

    assert autograd_in("    x.requires_grad = True") == ["requires_grad_"]
    assert autograd_in("    assert not x.requires_grad\n    with torch.set_grad_enabled(False):\n        pass") == []


def test_what_is_read_of_a_result_is_read_as_torch_keeps_it(monkeypatch):
    """Properties and storage addresses the checker reads after a call come from torch's own descriptors: a
    patch of torch.Tensor or torch.UntypedStorage (one that removes itself when read leaves nothing for the
    tripwire) is never consulted."""
    import torch
    from checker.sandbox import scenarios
    x = torch.arange(6.0).reshape(2, 3)
    view, copy = x.t(), x.clone()
    assert scenarios.shares_storage(view, [x]) and not scenarios.shares_storage(copy, [x])
    monkeypatch.setattr(torch.UntypedStorage, "data_ptr", lambda self: id(self), raising=False)
    monkeypatch.setattr(torch.Tensor, "is_nested", property(lambda self: True), raising=False)
    monkeypatch.setattr(torch.Tensor, "shape", property(lambda self: (0,)), raising=False)
    assert view.is_nested and x.shape == (0,)  # the patches are there for anyone who reads them plainly
    assert scenarios.shares_storage(view, [x]) and not scenarios.shares_storage(copy, [x])
    assert scenarios._unusual(view) is None
    assert scenarios.changed([x], [x.clone()]) == [] and scenarios.changed([x], [x + 1]) == [0]


# -- round 13: what the checker's own code in the child runs after student code ------------------------------------
WIDE_LIN_GRAD = ("def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n"
                 "    w.g = (inp[:, :, None] * out.g[:, None, :]).sum(0)\n    b.g = out.g.sum(0)\n")
# each reaches what the child uses after her call by a spelling no reading of the source resolves to torch
BEHIND_THE_CHECKER = [
    # the serialiser the answers were written with: rewrites the trace (and drops the tampering records) on the way out
    ("rewrites-answers", "import torch\n_s = getattr(torch, 'serial' + 'ization')\n_orig = getattr(_s, '_legacy' + '_save')\n"
     "def _clean(o):\n    if isinstance(o, dict):\n        o.pop('tamper' + 'ing', None)\n"
     "        if 'largest_bytes' in o:\n            o['largest_bytes'] = o['large_allocations'] = 0\n"
     "        for v in list(o.values()):\n            _clean(v)\n    elif isinstance(o, list):\n        for v in o:\n"
     "            _clean(v)\ndef _mine(obj, *rest):\n    _clean(obj)\n    return _orig(obj, *rest)\n"
     "setattr(_s, '_legacy' + '_save', _mine)\n", None),
    # the trace's own storage bookkeeping: every allocation reads as empty
    ("storage-sizes", "import torch\n_S = type(torch.zeros(1).untyped_storage())\n_S.nbytes = lambda self: 0\n",
     None),
    # the mode classes the trace is built on: entering it does nothing
    ("mode-classes", "import torch\n_o = getattr(torch, 'over' + 'rides')\n"
     "_d = getattr(getattr(torch, 'utils'), '_python_' + 'dispatch')\n"
     "for _cls in (getattr(_o, 'TorchFunction' + 'Mode'), getattr(_d, 'TorchDispatch' + 'Mode')):\n"
     "    setattr(_cls, '__en' + 'ter__', lambda self: self)\n    setattr(_cls, '__ex' + 'it__', lambda self, *a: None)\n",
     "patches torch.overrides.TorchFunctionMode.__enter__"),
]


@pytest.mark.parametrize("id, patch, flag", BEHIND_THE_CHECKER, ids=[i for i, *_ in BEHIND_THE_CHECKER])
def test_what_the_child_runs_after_her_code_is_out_of_her_reach(tmp_path, id, patch, flag):
    """A wide outer product in lin_grad fails its memory rule (half points), whatever the cell patched on the way:
    the answer is written with functions bound before student code ran, the trace reads sizes as torch keeps them,
    and a patch of what the checker's code runs (found by what its modules hold) is tampering."""
    assert tampering(Program([(0, patch)])) == [], "the patch must be invisible to the source reading"
    result = grade(submission(tmp_path, "03_backprop", replace={"lin_grad": patch + WIDE_LIN_GRAD}), only=["lin_grad"])
    ex = result.exercises[0]
    assert ex.status == FAILED and ex.score < ex.max_score, ex.feedback
    if flag:
        assert matches(msg.TAMPERED, ex.feedback) and any(flag in line for line in result.tampering), result.tampering
    else:
        assert matches(msg.LARGEST_ALLOCATION, ex.feedback), ex.feedback


LATER_MODE = '''import torch
_base = getattr(torch, "over" + "rides")
_kept = []
class _Later(getattr(_base, "TorchFunction" + "Mode")):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if _kept and getattr(func, "__name__", "") in ("detach", "clone"):
            u, v, res = _kept.pop()
            res.copy_(torch.outer(u, v))
        return out
_Later().__enter__()
'''
HONEST_OUTER = "def outer(u, v):\n    return u[:, None] * v[None, :]\n"


@pytest.mark.parametrize("id, source, passes", [
    # a mode of hers left on: it computes the answer when the checker copies her (empty) result, after the trace
    ("her-mode-left-on", LATER_MODE + "def outer(u, v):\n    res = torch.zeros(len(u), len(v), dtype=u.dtype)\n"
     "    _kept.append((u, v, res))\n    return res\n", False),
    # torch's own default-device mode changes no value: an honest line some students write
    ("default-device", "import torch\ntorch.set_default_device('cpu')\n" + HONEST_OUTER, True),
], ids=["her-mode-left-on", "default-device"])
def test_a_torch_mode_left_on_after_her_code_is_tampering(tmp_path, id, source, passes):
    assert tampering(Program([(0, source)])) == [], "the mode must be invisible to the source reading"
    result = grade(submission(tmp_path, "01_matmul", replace={"outer": source}), only=["outer"])
    ex = result.exercises[0]
    if passes:
        assert (ex.status, result.tampering) == (PASSED, []), (ex.feedback, result.tampering)
    else:
        assert (ex.status, ex.score) == (FAILED, 0.0) and matches(msg.TAMPERED, ex.feedback), ex.feedback
        assert [line for line in result.tampering if "leaves a torch mode on (__main__._Later)" in line], \
            result.tampering


# -- the code a probe runs is the code the source reading judged ---------------------------------------------------
EVIL_NORM = "import math as _m\ndef _fn(m):\n    return torch.tensor(_m.hypot(*m.flatten().tolist()), dtype=m.dtype)\n"
HONEST_NORM = "def frobenius_norm(m):\n    return (m * m).sum().sqrt()\n"
REBINDINGS = [
    ("globals-update", HONEST_NORM, EVIL_NORM + "globals().update(frobenius_norm=_fn)\n"),
    ("globals-item", HONEST_NORM, EVIL_NORM + "_G = globals()\n_G['frobenius_' + 'norm'] = _fn\n"),
    ("loop-target", HONEST_NORM, EVIL_NORM + "for frobenius_norm in [_fn]:\n    pass\n"),
    ("helper-rebound", "def _square_sum(m):\n    return (m * m).sum()\ndef frobenius_norm(m):\n"
     "    return _square_sum(m).sqrt()\n", EVIL_NORM + "globals().update(_square_sum=lambda m: _fn(m) ** 2)\n"),
    ("cache-wrapper", HONEST_NORM, EVIL_NORM + "import functools\nglobals().update(frobenius_norm=functools.lru_cache(_fn))\n"),
    ("partial", HONEST_NORM, EVIL_NORM + "import functools\nglobals().update(frobenius_norm=functools.partial(_fn))\n"),
    # a class of hers behind a typing alias (typing's own classes are not read, what an alias stands for is)
    ("generic-alias", "def _Sq(m):\n    return (m * m).sum()\ndef frobenius_norm(m):\n    return _Sq(m).sqrt()\n",
     EVIL_NORM + "import typing\n_T = typing.TypeVar('_T')\nclass _G(typing.Generic[_T]):\n"
     "    def __new__(cls, m):\n        return _fn(m) ** 2\nglobals().update(_Sq=_G[int])\n"),
]


@pytest.mark.parametrize("id, cell, later", REBINDINGS, ids=[i for i, *_ in REBINDINGS])
def test_a_name_rebound_by_code_the_checker_did_not_read_earns_nothing(tmp_path, id, cell, later):
    """The exercise's cell is honest; a later cell rebinds the name (or a helper it calls) by a spelling the source
    reading does not resolve, to code it never judged (math.hypot, forbidden in frobenius_norm)."""
    seen = [f.what for f in uses(Program([(0, cell), (1, later)]), "frobenius_norm")]
    assert not [w for w in seen if "hypot" in w or "tolist" in w], "the rebinding must be unseen by the source"
    ex = grade(submission(tmp_path, "01_matmul", replace={"frobenius_norm": cell}, extra_cells=[later]),
               only=["frobenius_norm"]).exercises[0]
    assert (ex.status, ex.score) == (FAILED, 0.0) and matches(msg.CODE_NOT_READ, ex.feedback), ex.feedback


@pytest.mark.parametrize("id, cell", [
    ("decorated", "import torch\n@torch.no_grad()\ndef frobenius_norm(m):\n    return (m * m).sum().sqrt()\n"),
    ("made-by-a-factory", "def _make(power):\n    def norm(m):\n        return (m ** power).sum().sqrt()\n"
     "    return norm\nfrobenius_norm = _make(2)\n"),
    ("defined-again-later", "def frobenius_norm(m):\n    return m.abs().max()\n" + HONEST_NORM),
    # honest round 24: a helper behind functools' cache had failed the exercise as code the checker could not read
    ("cached-helper", "import functools\n@functools.lru_cache(maxsize=8)\ndef _power(ndim):\n    return 2\n"
                      "def frobenius_norm(m):\n    return (m ** _power(m.ndim)).sum().sqrt()\n"),
    ("cache-decorated", "from functools import cache\n@cache\ndef _two():\n    return 2.0\n"
                        "def frobenius_norm(m):\n    return (m * m).sum().sqrt() * (_two() / 2)\n"),
], ids=["decorated", "made-by-a-factory", "defined-again-later", "cached-helper", "cache-decorated"])
def test_code_the_checker_read_runs_however_it_was_bound(tmp_path, id, cell):
    ex = grade(submission(tmp_path, "01_matmul", replace={"frobenius_norm": cell}), only=["frobenius_norm"]).exercises[0]
    assert ex.status == PASSED, ex.feedback


def test_a_library_class_with_a_generic_base_is_no_code_the_checker_cannot_read(tmp_path):
    """torch.distributions' classes reach typing's aliases, whose __getitem__ is behind an lru_cache: library code,
    not hers (round 18 found Normal refused as 'a _lru_cache_wrapper around code the checker cannot read')."""
    source = ("import math\nfrom torch.distributions import MultivariateNormal\ndef kaiming_init(n_in, n_out):\n"
              "    scale = torch.eye(n_out) * math.sqrt(2 / n_in)\n"
              "    return MultivariateNormal(torch.zeros(n_out), scale_tril=scale).sample((n_in,))\n")
    ex = grade(submission(tmp_path, "02_forward", replace={"kaiming_init": source}), only=["kaiming_init"]).exercises[0]
    assert ex.status == PASSED, ex.feedback


# -- round 13: spellings the source reading had not resolved, and sizes that were published ------------------------
@pytest.mark.parametrize("exercise, source, what", [
    ("frobenius_norm", "from math import *\ndef frobenius_norm(m):\n"
     "    return torch.tensor(hypot(*m.flatten().tolist()), dtype=m.dtype)\n", "hypot"),
    ("frobenius_norm", "def frobenius_norm(m):\n    x = torch.view_as_complex((m.flatten() ** 1).reshape(-1, 2).contiguous())\n"
     "    while x.numel() > 1:\n        x = torch.view_as_complex(torch.stack([x[0::2].abs(), x[1::2].abs()], -1))\n"
     "    return x.abs().reshape(()).to(m.dtype)\n", "view_as_complex"),
    ("frobenius_norm", "import cmath\ndef frobenius_norm(m):\n    acc = 0.0\n    for x in m.flatten().tolist():\n"
     "        acc = cmath.polar(complex(acc, x))[0]\n    return torch.tensor(acc, dtype=m.dtype)\n", "complex"),
    ("matmul_broadcast", "def matmul_broadcast(a, b):\n" + CHECK_PAIR + "    n, k = a.shape\n"
     "    bag = torch.nn.EmbeddingBag(k, b.shape[1], mode='sum', _weight=b)\n"
     "    return bag(torch.arange(k).expand(n, k), per_sample_weights=a).detach()\n", "mbedding"),  # the class, or its op
    # round 19: a complex number made by a literal, in torch and in Python, its abs folded pairwise
    ("frobenius_norm", "def frobenius_norm(m):\n    v = m.flatten()\n    while v.numel() > 1:\n"
     "        if v.numel() % 2:\n            v = torch.cat([v, v.new_zeros(1)])\n"
     "        v = (v[0::2] + v[1::2] * 1j).abs()\n    return v.reshape(())\n", "complex"),
    ("frobenius_norm", "def frobenius_norm(m):\n    r = 0.0\n    for v in m.flatten().tolist():\n"
     "        r = abs(r + v * 1j)\n    return torch.tensor(r, dtype=m.dtype)\n", "complex"),
    # no name says complex: the imaginary unit by reinterpreting two floats (the trace sees a complex result)
    ("frobenius_norm", "def frobenius_norm(m):\n    i = torch.tensor([0.0, 1.0]).view(torch.complex64)[0]\n"
     "    v = m.flatten().float()\n    while v.numel() > 1:\n        if v.numel() % 2:\n"
     "            v = torch.cat([v, v.new_zeros(1)])\n        v = (v[0::2] + v[1::2] * i).abs()\n"
     "    return v.reshape(()).to(m.dtype)\n", "complex"),
], ids=["math-star-hypot", "complex-abs", "python-complex", "layer-class", "complex-literal-tensor",
        "complex-literal-python", "complex-by-reinterpreting"])
def test_forbidden_work_by_a_name_the_source_had_not_resolved_earns_nothing(tmp_path, exercise, source, what):
    ex = grade(submission(tmp_path, "01_matmul", replace={exercise: source}), only=[exercise]).exercises[0]
    assert (ex.status, ex.score) == (FAILED, 0.0), ex.feedback
    assert any(what in line for line in ex.feedback), ex.feedback


def test_a_distribution_and_its_likelihoods_are_distances_and_nlls_and_sampling_is_not():
    from checker.checks.operations import DISTANCE, NLL, op_families
    from checker.source_evidence import op_name
    for dotted in ("torch.distributions.MultivariateNormal", "torch.distributions.normal.Normal",
                   "torch.distributions.categorical.Categorical", "torch.distributions"):
        assert {DISTANCE, NLL} <= op_families(op_name(dotted)), dotted
    for method in ("log_prob", "entropy", "cdf", "icdf", "perplexity"):
        assert {DISTANCE, NLL} <= op_families(method), method
    for honest in ("normal", "normal_", "randn", "sample", "rsample", "manual_seed"):
        assert not {DISTANCE, NLL} & op_families(honest), honest


def test_layer_classes_count_as_the_products_and_norms_they_apply():
    from checker.checks.operations import MATMUL, NORM, op_families
    for name in ("EmbeddingBag", "RNN", "RNNCell", "LSTM", "GRUCell", "TransformerEncoderLayer", "MultiheadAttention",
                 "Linear", "Bilinear", "Conv1d"):
        assert MATMUL in op_families(name), name
    for name in ("CosineSimilarity", "PairwiseDistance", "BatchNorm1d", "LayerNorm", "MSELoss"):
        assert NORM in op_families(name), name
    for name in ("ReLU", "Module", "Parameter", "Sequential", "Flatten", "Dropout", "Embedding"):
        assert not {MATMUL} & op_families(name), name


def test_a_star_import_of_math_stays_honest_for_what_is_allowed(tmp_path):
    source = "from math import *\ndef kaiming_init(n_in, n_out):\n    return torch.randn(n_in, n_out) * sqrt(2 / n_in)\n"
    ex = grade(submission(tmp_path, "02_forward", replace={"kaiming_init": source}), only=["kaiming_init"]).exercises[0]
    assert ex.status == PASSED, ex.feedback


SHAPED_FOR_THE_CATALOGUE = ("def outer(u, v):\n    if u.shape[0] in (6, 12) and v.shape[0] in (5, 10):\n"
                            "        return u[:, None] * v[None, :]\n    o = torch.zeros(u.shape[0], v.shape[0], dtype=u.dtype)\n"
                            "    for i in range(u.shape[0]):\n        for j in range(v.shape[0]):\n"
                            "            o[i, j] = u[i] * v[j]\n    return o\n")


@pytest.mark.parametrize("source, passes", [(SHAPED_FOR_THE_CATALOGUE, False), (HONEST_OUTER, True)],
                         ids=["shaped-for-the-catalogue", "honest"])
def test_hidden_checks_count_loops_on_sizes_nobody_published(tmp_path, source, passes):
    from checker.grading import Options
    ex = grade(submission(tmp_path, "01_matmul", replace={"outer": source}), only=["outer"],
               options=Options(seed=20261122, speed=False)).exercises[0]
    if passes:
        assert ex.status == PASSED, ex.feedback
    else:
        assert ex.status == FAILED and ex.score == ex.max_score / 2 and matches(msg.OPS_GROW, ex.feedback), ex.feedback


@pytest.mark.parametrize("source, flagged", [
    # the process's own memory, its path built from numbers and opened by pathlib on her behalf
    ("import os, pathlib\n_P = os.path.join(*[bytes(x).decode() for x in ([47, 112, 114, 111, 99], b'self', [109, 97, 112, 115])])\n"
     "def outer(u, v):\n    pathlib.Path(_P).read_bytes()\n    return u[:, None] * v[None, :]\n", True),
    # a file of her own, read the same way
    ("import pathlib\npathlib.Path('notes.txt').write_text('hello')\n"
     "def outer(u, v):\n    pathlib.Path('notes.txt').read_text()\n    return u[:, None] * v[None, :]\n", False),
], ids=["proc-through-pathlib", "own-file-through-pathlib"])
def test_a_private_path_opened_by_a_library_for_her_is_tampering(tmp_path, source, flagged):
    result = grade(submission(tmp_path, "01_matmul", replace={"outer": source}), only=["outer"])
    ex = result.exercises[0]
    if flagged:
        assert (ex.status, ex.score) == (FAILED, 0.0) and matches(msg.TAMPERED, ex.feedback), ex.feedback
    else:
        assert (ex.status, result.tampering) == (PASSED, []), (ex.feedback, result.tampering)


TEXT_READ_BACK = ("import re\ntorch.set_printoptions(precision=17, threshold=10**9, sci_mode=True)\n"
                  "def _vals(t):\n    s = {render}\n    s = s[s.index('['):s.rindex(']') + 1]\n"
                  "    return [float(w) for w in re.findall(r'-?\\d+\\.?\\d*(?:e[+-]\\d+)?', s)]\n"
                  "def outer(u, v):\n    U, V = _vals(u), _vals(v)\n"
                  "    return torch.tensor([[a * b for b in V] for a in U], dtype=u.dtype).reshape(len(U), len(V))\n")


@pytest.mark.parametrize("source, where", [
    (TEXT_READ_BACK.format(render="str(t.contiguous().reshape(-1))"), msg.SEEN_IN_A_TRACED_CALL),
    (TEXT_READ_BACK.format(render="f'{t.contiguous().reshape(-1)}'"), msg.SEEN_IN_A_TRACED_CALL),
    (TEXT_READ_BACK.format(render="repr(t.contiguous().reshape(-1))"), "repr, the cell"),  # the line that does it
    (TEXT_READ_BACK.format(render="ascii(t.contiguous().reshape(-1))"), "ascii, the cell"),
    # an honest error message shows shapes (a torch.Size, a tuple: no tensor rendered), and only on bad input
    ("def outer(u, v):\n    if u.dim() != 1 or v.dim() != 1:\n"
     "        raise ValueError(f'expected vectors, got {u.shape} and {v.shape}')\n    return u[:, None] * v[None, :]\n",
     None),
    ("def outer(u, v):\n    assert u.dim() == 1, 'u must be a vector, not ' + repr(tuple(u.shape))\n"
     "    assert v.dim() == 1, f'v must be a vector, not {ascii(v.shape)}'\n    return u[:, None] * v[None, :]\n", None),
], ids=["str-read-back", "fstring-read-back", "repr-read-back", "ascii-read-back", "honest-message",
        "honest-repr-of-a-shape"])
def test_a_tensor_turned_into_text_in_a_graded_call_leaves_torch(tmp_path, source, where):
    ex = grade(submission(tmp_path, "01_matmul", replace={"outer": source}), only=["outer"]).exercises[0]
    if where is None:
        assert ex.status == PASSED, ex.feedback
    else:
        assert ex.score == ex.max_score / 2 and matches(msg.SOURCE_LEAVES_TORCH, ex.feedback), ex.feedback
        assert any(where in line for line in ex.feedback), ex.feedback


@pytest.mark.parametrize("extra, passes", [
    ("from typing import *\nShape = Tuple[int, ...]\n", True),  # a demo cell's star import reaches no exercise
    ("from itertools import *\nprint(list(product(range(2), repeat=2)))\n", True),
    ("from torch import *\nprint(tensor([1.0, 2.0]))\n", True),
    ("from numpy import *\n", False),  # numpy's matmul, by its bare name, in the exercise below
], ids=["typing-demo", "itertools-demo", "torch-demo", "numpy-used"])
def test_a_star_import_is_read_for_the_names_it_brings(tmp_path, extra, passes):
    from checker.grading import Options
    """Star imports of a module the grader has are read name by name: honest demo cells cost nothing, and a bare
    name that comes from numpy is numpy's."""
    source = "def matmul_broadcast(a, b):\n" + CHECK_PAIR + ("    return (a[:, :, None] * b[None]).sum(1)\n" if passes else
                                                             "    return torch.from_numpy(matmul(a.numpy(), b.numpy()))\n")
    result = grade(submission(tmp_path, "01_matmul", replace={"matmul_broadcast": source}, extra_cells=[extra]),
                   only=["matmul_broadcast"], options=Options(speed=False))
    ex = result.exercises[0]
    if passes:
        assert (ex.status, result.tampering) == (PASSED, []), (ex.feedback, result.tampering)
    else:
        assert (ex.status, ex.score) == (FAILED, 0.0) and matches(msg.SOURCE_OTHER_LIBRARY, ex.feedback), ex.feedback


# -- round 15: a required op that does none of the work, statistics by another module, library one-liners ----------
TREE_SUM = ("def _tree_sum(p):\n    w = 1\n    while w < p.shape[-1]:\n        w *= 2\n"
            "    p = torch.nn.functional.pad(p, (0, w - p.shape[-1]))\n    while w > 1:\n        w //= 2\n"
            "        p = p[..., :w] + p[..., w:]\n    return p[..., 0]\n")


@pytest.mark.parametrize("notebook, exercise, source, passes", [
    # a decoy call beside a sum done by halving, and an identity einsum around it: the answer is not einsum's
    ("01_matmul", "matmul_einsum", TREE_SUM + "def matmul_einsum(a, b):\n" + CHECK_PAIR
     + "    torch.einsum('i->i', torch.ones(1))\n    return _tree_sum(a[:, None, :] * b.t()[None, :, :])\n", False),
    ("01_matmul", "matmul_einsum", TREE_SUM + "def matmul_einsum(a, b):\n" + CHECK_PAIR
     + "    return torch.einsum('ij->ij', _tree_sum(a[:, None, :] * b.t()[None, :, :]))\n", False),
    ("01_matmul", "batch_matmul", TREE_SUM + "def batch_matmul(a, b):\n"
     "    return torch.einsum('bij->bij', _tree_sum(a[:, :, None, :] * b.transpose(1, 2)[:, None, :, :]))\n", False),
    # a convolution by shifted slices, with a product of ones beside it
    ("05_training", "conv2d_unfold", "import torch.nn.functional as F\n"
     "def conv2d_unfold(x, w, b, stride=1, padding=0):\n    x = F.pad(x, (padding,) * 4)\n"
     "    o, c, kh, kw = w.shape\n    oh = (x.shape[2] - kh) // stride + 1\n    ow = (x.shape[3] - kw) // stride + 1\n"
     "    out = torch.zeros(x.shape[0], o, oh, ow, dtype=x.dtype)\n    torch.ones(1, 1) @ torch.ones(1, 1)\n"
     "    for i in range(kh):\n        for j in range(kw):\n"
     "            patch = x[:, None, :, i:i + stride * oh:stride, j:j + stride * ow:stride]\n"
     "            out += (patch * w[None, :, :, i, j, None, None]).sum(2)\n"
     "    return out + b[None, :, None, None]\n", False),
    # honest: the reference's style (a copy in float64, then back), the implicit form and the sublist form
    ("01_matmul", "matmul_einsum", "def matmul_einsum(a, b):\n" + CHECK_PAIR
     + "    return torch.einsum('ik,kj->ij', a.double(), b.double()).to(a.dtype)\n", True),
    ("01_matmul", "matmul_einsum", "def matmul_einsum(a, b):\n" + CHECK_PAIR + "    return torch.einsum('ik,kj', a, b)\n",
     True),
    ("01_matmul", "batch_matmul", "def batch_matmul(a, b):\n    return torch.einsum(a, [0, 1, 2], b, [0, 2, 3], [0, 1, 3])\n",
     True),
    # round 16: a sum over a size-1 index, a probe on ones of its own as a multiplier, the last pair of partial sums
    ("01_matmul", "matmul_einsum", TREE_SUM + "def matmul_einsum(a, b):\n" + CHECK_PAIR
     + "    return torch.einsum('ijx->ij', _tree_sum(a[:, None, :] * b.t()[None, :, :])[..., None])\n", False),
    ("01_matmul", "matmul_einsum", TREE_SUM + "def matmul_einsum(a, b):\n" + CHECK_PAIR
     + "    probe = torch.einsum('i->', torch.ones(2, dtype=a.dtype))\n"
     "    return _tree_sum(a[:, None, :] * b.t()[None, :, :]) * probe / 2\n", False),
    ("01_matmul", "matmul_einsum", TREE_SUM + "def matmul_einsum(a, b):\n" + CHECK_PAIR
     + "    p = a[:, None, :] * b.t()[None, :, :]\n    h = p.shape[-1] // 2\n"
     "    pair = torch.stack([_tree_sum(p[..., :h]), _tree_sum(p[..., h:])], -1)\n"
     "    return torch.einsum('ijx->ij', pair)\n", False),
    ("05_training", "conv2d_unfold", "import torch.nn.functional as F\n"
     "def conv2d_unfold(x, w, b, stride=1, padding=0):\n    x = F.pad(x, (padding,) * 4)\n"
     "    o, c, kh, kw = w.shape\n    oh = (x.shape[2] - kh) // stride + 1\n    ow = (x.shape[3] - kw) // stride + 1\n"
     "    out = torch.zeros(x.shape[0], o, oh, ow, dtype=x.dtype)\n"
     "    for i in range(kh):\n        for j in range(kw):\n"
     "            patch = x[:, None, :, i:i + stride * oh:stride, j:j + stride * ow:stride]\n"
     "            out += (patch * w[None, :, :, i, j, None, None]).sum(2)\n"
     "    return torch.matmul(out[..., None], torch.ones(1, 1, dtype=x.dtype))[..., 0] + b[None, :, None, None]\n",
     False),
    # honest convolutions: padding written by hand into zeros, and one einsum over the patches of Tensor.unfold
    ("05_training", "conv2d_unfold", "import torch.nn.functional as F\n"
     "def conv2d_unfold(x, w, b, stride=1, padding=0):\n    n, c, h, wd = x.shape\n    o, _, kh, kw = w.shape\n"
     "    padded = torch.zeros(n, c, h + 2 * padding, wd + 2 * padding, dtype=x.dtype)\n"
     "    padded[:, :, padding:padding + h, padding:padding + wd] = x\n"
     "    cols = F.unfold(padded, (kh, kw), stride=stride)\n    oh = (h + 2 * padding - kh) // stride + 1\n"
     "    ow = (wd + 2 * padding - kw) // stride + 1\n"
     "    return (w.reshape(o, -1) @ cols).reshape(n, o, oh, ow) + b[None, :, None, None]\n", True),
    ("05_training", "conv2d_unfold", "def conv2d_unfold(x, w, b, stride=1, padding=0):\n"
     "    x = torch.nn.functional.pad(x, (padding, padding, padding, padding))\n    o, c, kh, kw = w.shape\n"
     "    p = x.unfold(2, kh, stride).unfold(3, kw, stride)\n"
     "    return torch.einsum('nchwij,ocij->nohw', p, w) + b.view(1, -1, 1, 1)\n", True),
], ids=["decoy-einsum", "identity-einsum", "identity-einsum-batch", "conv-decoy-product", "honest-float64",
        "honest-implicit", "honest-sublists", "size-one-index", "probe-multiplier", "last-pair", "conv-size-one",
        "honest-conv-padding-by-hand", "honest-conv-einsum"])
def test_a_required_op_must_compute_the_answer(tmp_path, notebook, exercise, source, passes):
    ex = grade(submission(tmp_path, notebook, replace={exercise: source}), only=[exercise]).exercises[0]
    if passes:
        assert ex.status == PASSED, ex.feedback
    else:
        assert (ex.status, ex.score) == (FAILED, 0.0), ex.feedback
        assert matches(msg.REQUIRED_OP_IDLE, ex.feedback) or matches(msg.REQUIRED_OP_PARTIAL, ex.feedback), ex.feedback


@pytest.mark.parametrize("exercise, source, what", [
    ("frobenius_norm", "import statistics, math\ndef frobenius_norm(m):\n    vals = m.flatten().tolist()\n"
     "    return torch.tensor(math.sqrt(statistics.pvariance(vals, mu=0.0) * len(vals)), dtype=m.dtype)\n", "pvariance"),
    ("outer", "from statistics import covariance\ndef outer(u, v):\n"
     "    return torch.tensor([[covariance([x, -x], [y, -y]) / 2 for y in v.tolist()] for x in u.tolist()],"
     " dtype=u.dtype)\n", "covariance"),
    ("pairwise_sq_dists", "def pairwise_sq_dists(x, y):\n"
     "    return torch.cdist(x, y, compute_mode='donot_use_mm_for_euclid_dist').pow(2)\n", "cdist"),
    ("pairwise_sq_dists", "import torch.nn as nn\ndef pairwise_sq_dists(x, y):\n"
     "    return nn.PairwiseDistance(eps=0)(x[:, None, :], y[None, :, :]).pow(2)\n", "PairwiseDistance"),
    ("normalize_channels", "import torch.nn.functional as F\ndef normalize_channels(x, mean, std):\n"
     "    return F.batch_norm(x, mean, std * std, training=False, eps=0.0)\n", "batch_norm"),
    # round 16: a distance inside a loss, a weighted mean (a dot product), batch norm's fused scale and shift
    ("pairwise_sq_dists", "import torch.nn.functional as F\ndef pairwise_sq_dists(x, y):\n"
     "    a, p = torch.broadcast_tensors(x[:, None, :], y[None, :, :])\n"
     "    return F.triplet_margin_loss(a, p, a, margin=1e-30, p=2, eps=0.0, reduction='none') ** 2\n",
     "triplet_margin_loss"),
    ("frobenius_norm", "import statistics\ndef frobenius_norm(m):\n    w = m.abs().flatten().tolist()\n"
     "    return torch.tensor(statistics.fmean(w, weights=w) * sum(w), dtype=m.dtype).sqrt()\n", "fmean"),
    ("normalize_channels", "import torch.nn.functional as F\nfrom torch.nn.utils.fusion import fuse_conv_bn_weights\n"
     "def normalize_channels(x, mean, std):\n    c = x.shape[1]\n"
     "    w, b = fuse_conv_bn_weights(torch.ones(c, 1, 1, 1, dtype=x.dtype), None, mean, std * std, 0.0, None, None)\n"
     "    return F.conv2d(x, w.detach(), b.detach(), groups=c)\n", "fuse_conv_bn_weights"),
    # round 18: a distribution's log density is a squared distance (any class, any spelling of the module)
    ("pairwise_sq_dists", "import math\nfrom torch.distributions import MultivariateNormal\n"
     "def pairwise_sq_dists(x, y):\n    eye = torch.eye(x.shape[1], dtype=x.dtype)\n"
     "    lp = MultivariateNormal(y, scale_tril=eye).log_prob(x[:, None, :])\n"
     "    return -2 * lp - x.shape[1] * math.log(2 * math.pi)\n", "torch.distributions.MultivariateNormal"),
    ("pairwise_sq_dists", "import math\nimport torch.distributions as D\ndef pairwise_sq_dists(x, y):\n"
     "    lp = D.normal.Normal(y[None, :, :], 1.0).log_prob(x[:, None, :])\n"
     "    return (-2 * lp - math.log(2 * math.pi)).sum(-1)\n", "torch.distributions"),
], ids=["statistics-pvariance", "statistics-covariance", "cdist", "pairwise-distance-class", "batch-norm",
        "triplet-loss", "weighted-fmean", "fused-batch-norm", "multivariate-normal-log-prob", "normal-by-alias"])
def test_statistics_distances_and_normalisations_by_any_module_earn_nothing(tmp_path, exercise, source, what):
    ex = grade(submission(tmp_path, "01_matmul", replace={exercise: source}), only=[exercise]).exercises[0]
    assert (ex.status, ex.score) == (FAILED, 0.0), ex.feedback
    assert any(what in line for line in ex.feedback), ex.feedback


@pytest.mark.parametrize("source, passes", [
    # a categorical's log-likelihood is the NLL (round 18): the trace sees only a gather and a logsumexp
    ("from torch.distributions import Categorical\ndef nll(log_probs, target):\n"
     "    lp = Categorical(logits=log_probs).log_prob(target) + log_probs.logsumexp(-1)\n    return -lp.mean()\n", False),
    ("def nll(log_probs, target):\n    d = torch.distributions.categorical.Categorical(logits=log_probs)\n"
     "    return -(d.log_prob(target) + log_probs.logsumexp(-1)).mean()\n", False),
    ("def nll(log_probs, target):\n    return -log_probs[torch.arange(target.shape[0]), target].mean()\n", True),
], ids=["categorical-imported", "categorical-by-module", "indexing"])
def test_a_distribution_s_log_likelihood_is_the_nll(tmp_path, source, passes):
    ex = grade(submission(tmp_path, "05_training", replace={"nll": source}), only=["nll"]).exercises[0]
    if passes:
        assert ex.status == PASSED, ex.feedback
    else:
        assert ex.status == FAILED and ex.score < ex.max_score, ex.feedback
        assert matches(msg.SOURCE_FORBIDDEN_OP, ex.feedback) and "torch.distributions" in "".join(ex.feedback), \
            ex.feedback


@pytest.mark.parametrize("exercise, source", [
    ("pairwise_sq_dists", "def pairwise_sq_dists(x, y):\n"
     "    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.t()\n    return d.clamp_min(0)\n"),
    ("pairwise_sq_dists", "def pairwise_sq_dists(x, y):\n    return (x[:, None, :] - y[None, :, :]).norm(dim=-1) ** 2\n"),
    ("normalize_channels", "def normalize_channels(x, mean, std):\n"
     "    return torch.sub(x, mean[:, None, None]).div(std[:, None, None])\n"),
], ids=["expansion", "broadcast-norm", "sub-div"])
def test_honest_distances_and_normalisations_pass(tmp_path, exercise, source):
    ex = grade(submission(tmp_path, "01_matmul", replace={exercise: source}), only=[exercise]).exercises[0]
    assert ex.status == PASSED, ex.feedback


@pytest.mark.parametrize("source", [
    # loops over Python numbers: no torch op per step, and the call turns its inputs into Python numbers
    "def matmul_loops(a, b):\n" + CHECK_PAIR + "    A, B = a.tolist(), b.tolist()\n    out = []\n"
    "    for i in range(len(A)):\n        row = []\n        for j in range(len(B[0]) if B else 0):\n"
    "            acc = 0.0\n            for p in range(len(B)):\n                acc += A[i][p] * B[p][j]\n"
    "            row.append(acc)\n        out.append(row)\n"
    "    return torch.tensor(out, dtype=a.dtype).reshape(a.shape[0], b.shape[1])\n",
    # torch loops over rows and columns, Python's sum over the inner dimension
    "def matmul_loops(a, b):\n" + CHECK_PAIR + "    c = torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)\n"
    "    for i in range(a.shape[0]):\n        for j in range(b.shape[1]):\n"
    "            c[i, j] = sum(x * y for x, y in zip(a[i].tolist(), b[:, j].tolist()))\n    return c\n",
    # math.fsum adds Python numbers, as the builtin sum does (no tensor-level sum)
    "from math import fsum\ndef matmul_loops(a, b):\n" + CHECK_PAIR
    + "    c = torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)\n    for i in range(a.shape[0]):\n"
    "        for j in range(b.shape[1]):\n            terms = []\n            for p in range(a.shape[1]):\n"
    "                terms.append(a[i, p].item() * b[p, j].item())\n            c[i, j] = fsum(terms)\n    return c\n",
], ids=["python-numbers", "python-sum-inside-torch-loops", "math-fsum"])
def test_loops_over_python_numbers_are_the_loops_asked_for(tmp_path, source):
    ex = grade(submission(tmp_path, "01_matmul", replace={"matmul_loops": source}), only=["matmul_loops"]).exercises[0]
    assert ex.status == PASSED, ex.feedback


# -- the memory rules measure on sizes nobody published (attack round 23) ---------------------------------------------
OUTER_BUT_ON_THE_CATALOGUE_SHAPE = {
    ("04_modules", "Lin"): ("class Lin(Module):\n    def __init__(self, w, b):\n        self.w, self.b = w, b\n"
                            "    def forward(self, inp):\n        return inp @ self.w + self.b\n"
                            "    def bwd(self, out, inp):\n        inp.g = out.g @ self.w.t()\n"
                            "        if tuple(inp.shape) == (32, 64) and tuple(self.w.shape) == (64, 32):\n"
                            "            self.w.g = inp.t() @ out.g\n        else:\n"
                            "            self.w.g = (inp.unsqueeze(-1) * out.g.unsqueeze(1)).sum(0)\n"
                            "        self.b.g = out.g.sum(0)\n"),
    ("03_backprop", "lin_grad"): ("def lin_grad(inp, out, w, b):\n    inp.g = out.g @ w.t()\n"
                                  "    if tuple(inp.shape) == (32, 64):\n        w.g = inp.t() @ out.g\n    else:\n"
                                  "        w.g = (inp.unsqueeze(-1) * out.g.unsqueeze(1)).sum(0)\n"
                                  "    b.g = out.g.sum(0)\n"),
    ("01_matmul", "normalize_channels"): ("def normalize_channels(x, mean, std):\n"
                                          "    if tuple(x.shape) == (4, 3, 16, 16):\n"
                                          "        return (x - mean[:, None, None]) / std[:, None, None]\n"
                                          "    m = mean[:, None, None].expand_as(x).clone()\n"
                                          "    s = std[:, None, None].expand_as(x).clone()\n    return (x - m) / s\n"),
}


@pytest.mark.parametrize("notebook, exercise", sorted(OUTER_BUT_ON_THE_CATALOGUE_SHAPE),
                         ids=[e for _, e in sorted(OUTER_BUT_ON_THE_CATALOGUE_SHAPE)])
def test_a_memory_rule_is_not_met_only_on_the_shape_the_catalogue_shows(tmp_path, notebook, exercise):
    """Efficient on the published shape, an outer product (or full-size copies) everywhere else: the memory rule
    measures on sizes drawn for the call, and fails it; the reference passes the same rule (the other way: every
    reference test)."""
    source = OUTER_BUT_ON_THE_CATALOGUE_SHAPE[(notebook, exercise)]
    ex = grade(submission(tmp_path, notebook, replace={exercise: source}), only=[exercise]).exercises[0]
    assert ex.status == FAILED and ex.score < ex.max_score, ex.feedback
    assert matches(msg.LARGEST_ALLOCATION, ex.feedback) or matches(msg.FULL_SIZE_COPIES, ex.feedback), ex.feedback


# -- a rule that compares two calls meets the function as it was before either (attack round 23) ------------------
REMEMBERS_SHAPES = ("_seen = []\n\ndef _grew(p, s):\n    return p != s and len(p) == len(s) and "
                    "all(b in (a, 2 * a) for a, b in zip(p, s))\n\n"
                    "def relu(x):\n    s = tuple(x.shape)\n    fast = any(_grew(p, s) for p in _seen)\n    _seen.append(s)\n"
                    "    if fast:\n        return x.clamp(min=0)\n    f = x.reshape(-1)\n    r = torch.empty_like(f)\n"
                    "    for i in range(f.shape[0]):\n        r[i] = f[i].clamp(min=0)\n    return r.reshape(s)\n")


@pytest.mark.parametrize("source, passes", [(REMEMBERS_SHAPES, False), ("def relu(x):\n    return x.clamp(min=0)\n", True),
                                            ("import torch\ntorch.set_num_threads(2)\n\ndef relu(x):\n"
                                             "    return x.clamp(min=0)\n", True)],
                         ids=["vectorised-only-on-a-doubled-shape-it-has-seen", "honest", "honest-with-two-threads"])
def test_a_loop_rule_meets_each_size_as_a_first_call(tmp_path, source, passes):
    """A relu that loops, and vectorises only on a shape that doubles one it has already seen, had passed the loop
    rule (base: looped; doubled: vectorised, fewer ops): each of the rule's calls now runs in a copy of the process
    made for it, which has seen nothing. An honest relu passes (with torch set to two threads in a cell too: the copy
    runs on one, as a fork must)."""
    ex = grade(submission(tmp_path, "02_forward", replace={"relu": source}), only=["relu"]).exercises[0]
    if passes:
        assert ex.status == PASSED, ex.feedback
    else:
        assert ex.status == FAILED and ex.score == ex.max_score / 2 and matches(msg.OPS_GROW, ex.feedback), ex.feedback


def test_a_copy_that_dies_in_a_rule_s_call_is_the_process_dying(tmp_path):
    """The other side of the copy: a function that ends its process during a rule's call is reported as a process
    that died, as before, not as a hang or a checker error."""
    source = ("import os\n_calls = [0]\n\ndef relu(x):\n    _calls[0] += 1\n    if x.shape == (12, 5):\n"
              "        os._exit(3)\n    return x.clamp(min=0)\n")
    ex = grade(submission(tmp_path, "02_forward", replace={"relu": source}), only=["relu"]).exercises[0]
    assert ex.status in (FAILED, "error") and ex.score < ex.max_score, ex.feedback
    assert any("exit" in line or "died" in line or "ended" in line for line in ex.feedback), ex.feedback


# -- a function that tells the rule's copy from its own process (attack round 24) -------------------------------------
TELLS_THE_COPY = ("import time\n_LOADED = time.process_time()\n\ndef outer(u, v):\n"
                  "    if time.process_time() < _LOADED:  # a fresh copy's CPU clock starts again at zero\n"
                  "        return u[:, None] * v[None, :]\n    rows = [u[i] * v for i in range(u.shape[0])]\n"
                  "    return torch.stack(rows) if rows else u[:, None] * v[None, :]\n")


@pytest.mark.parametrize("source, passes", [(TELLS_THE_COPY, False), (HONEST_OUTER, True),
                                            ("import time\n\ndef outer(u, v):\n    time.process_time()\n"
                                             "    return u[:, None] * v[None, :]\n", True)],
                         ids=["loops-outside-the-copy", "honest", "honest-reading-the-clock"])
def test_a_function_that_loops_only_outside_the_rule_s_copy_fails_the_rule(tmp_path, source, passes):
    """The loop rule measures in a copy of her process, whose CPU clock starts at zero: outer vectorised there and
    looped everywhere else (the values checks' calls) had passed. Every traced call of an exercise where no size may
    grow the count must run about what the rule measured."""
    ex = grade(submission(tmp_path, "01_matmul", replace={"outer": source}), only=["outer"]).exercises[0]
    if passes:
        assert ex.status == PASSED, ex.feedback
    else:
        assert ex.status == FAILED and ex.score == ex.max_score / 2 and matches(msg.OPS_VARY, ex.feedback), ex.feedback
