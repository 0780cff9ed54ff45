"""01_matmul: matrix multiplication from three loops to einsum."""
import torch
from torch import Tensor


def matmul_loops(a: Tensor, b: Tensor) -> Tensor:
    """The product a @ b with three nested Python loops over scalar entries.

    c[i, j] = sum_p a[i, p] * b[p, j] for a of shape (n, k) and b of shape (k, m);
    returns c of shape (n, m). Raise (AssertionError or ValueError) when the two k differ.
    """
    n, k = a.shape
    k_b, m = b.shape
    if k != k_b:
        raise ValueError(f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)}: {k} != {k_b}")
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        for j in range(m):
            for p in range(k):
                c[i, j] += a[i, p] * b[p, j]
    return c


def matmul_elementwise(a: Tensor, b: Tensor) -> Tensor:
    """a @ b with two loops, over i and j: c_ij is the sum of the elementwise product of row i of a
    and column j of b, two vectors of length k, computed by torch in one go.

    a: (n, k), b: (k, m) -> (n, m). Raise when the two k differ.
    """
    n, k = a.shape
    k_b, m = b.shape
    if k != k_b:
        raise ValueError(f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)}: {k} != {k_b}")
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        for j in range(m):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


def matmul_broadcast(a: Tensor, b: Tensor) -> Tensor:
    """a @ b with one loop over the rows of a: c_i: = sum_p a_ip b_p: for each row i.

    Row i of a, turned into a (k, 1) column, broadcasts against b (k, m) to a (k, m) product whose
    sum over the k axis is row i of the result. a: (n, k), b: (k, m) -> (n, m).
    """
    n, k = a.shape
    k_b, m = b.shape
    if k != k_b:
        raise ValueError(f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)}: {k} != {k_b}")
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        c[i] = (a[i, :, None] * b).sum(dim=0)
    return c


def matmul_einsum(a: Tensor, b: Tensor) -> Tensor:
    """a @ b written as Einstein summation: c_ij = sum_k a_ik b_kj. a: (n, k), b: (k, m) -> (n, m)."""
    return torch.einsum("ik,kj->ij", a, b)


def batch_matmul(a: Tensor, b: Tensor) -> Tensor:
    """A batch of products in one einsum: c_bij = sum_k a_bik b_bkj. a: (B, n, k), b: (B, k, m) -> (B, n, m)."""
    return torch.einsum("bik,bkj->bij", a, b)


def frobenius_norm(m: Tensor) -> Tensor:
    """||m||_F = sqrt(sum_ij m_ij^2), from elementwise ops and a sum; returns a 0-d tensor."""
    return (m * m).sum().sqrt()


def outer(u: Tensor, v: Tensor) -> Tensor:
    """The outer product o_ij = u_i v_j by broadcasting a column against a row. u: (n,), v: (m,) -> (n, m)."""
    return u[:, None] * v[None, :]


def normalize_channels(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Per-channel (x - mean_c) / std_c for images x: (N, C, H, W) and statistics mean, std: (C,).

    Reshape the statistics to (C, 1, 1) views and let broadcasting do the rest: no (N, C, H, W) copy.
    """
    return (x - mean[:, None, None]) / std[:, None, None]


def pairwise_sq_dists(x: Tensor, y: Tensor) -> Tensor:
    """d_ij = |x_i - y_j|^2 = |x_i|^2 + |y_j|^2 - 2 x_i . y_j for x: (n, d), y: (m, d) -> (n, m).

    The expansion can round to tiny negatives: clamp them to 0.
    """
    x_sq = (x * x).sum(dim=1)[:, None]
    y_sq = (y * y).sum(dim=1)[None, :]
    return (x_sq + y_sq - 2 * (x @ y.T)).clamp_min(0)
