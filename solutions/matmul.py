"""01_matmul: matrix multiplication from three loops to einsum."""
import torch


def matmul_loops(a, b):
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


def matmul_elementwise(a, b):
    n, k = a.shape
    k_b, m = b.shape
    if k != k_b:
        raise ValueError(f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)}: {k} != {k_b}")
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        for j in range(m):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


def matmul_broadcast(a, b):
    n, k = a.shape
    k_b, m = b.shape
    if k != k_b:
        raise ValueError(f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)}: {k} != {k_b}")
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        c[i] = (a[i, :, None] * b).sum(dim=0)
    return c


def matmul_einsum(a, b):
    return torch.einsum("ik,kj->ij", a, b)


def batch_matmul(a, b):
    return torch.einsum("bik,bkj->bij", a, b)


def frobenius_norm(m):
    return (m * m).sum().sqrt()


def outer(u, v):
    return u[:, None] * v[None, :]


def normalize_channels(x, mean, std):
    return (x - mean[:, None, None]) / std[:, None, None]


def pairwise_sq_dists(x, y):
    x_sq = (x * x).sum(dim=1)[:, None]
    y_sq = (y * y).sum(dim=1)[None, :]
    return (x_sq + y_sq - 2 * (x @ y.T)).clamp_min(0)
