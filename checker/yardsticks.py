"""Speed yardsticks: the cost of the algorithm an exercise asks for, not its answer.

A speed bar is a ratio: the student's CPU time over a yardstick's, on the same fresh inputs.
The student's is read from the kernel's accounting of her jail around each call; a yardstick
runs here, in the grader, which never runs student code, and is timed by this thread's CPU
clock with the same work around the call that the student's process does (its request read
from bytes, its answer written to bytes), on one torch thread as the student's process has. A yardstick does the same amount of work
of the same kind as the expected algorithm (the same number of Python-level tensor
operations of the same sizes) but does not assemble the answer, so the checker can
ship to students without shipping solutions.
"""
from __future__ import annotations

import threading
import time

import torch


def scalar_multiply_adds(a, b):
    """n*m*k multiply-adds on 0-d tensors: the cost of three nested Python loops."""
    rows, depth = a.shape
    cols = b.shape[1]
    total = torch.zeros((), dtype=a.dtype)
    for r in range(rows):
        for c in range(cols):
            for d in range(depth):
                total += a[r, d] * b[d, c]
    return total


def one_broadcast_per_row(a, b):
    """One (k, m) broadcast product and one reduction per row of a: the cost of one loop."""
    last = None
    for r in range(a.shape[0]):
        column = a[r].unsqueeze(1)
        last = torch.mul(column, b).sum(0)
    return last


def autograd_forward_backward(inp, targ, w1, b1, w2, b2):
    """The same two-layer network's forward and backward pass, done by torch.autograd."""
    leaves = [t.detach().requires_grad_() for t in (inp, w1, b1, w2, b2)]
    x, v1, c1, v2, c2 = leaves
    hidden = torch.relu(torch.addmm(c1, x, v1))
    prediction = torch.addmm(c2, hidden, v2)
    loss = (prediction.squeeze(-1) - targ).pow(2).mean()
    loss.backward()
    return loss


YARDSTICKS = {
    "scalar_multiply_adds": scalar_multiply_adds,
    "one_broadcast_per_row": one_broadcast_per_row,
    "autograd_forward_backward": autograd_forward_backward,
}


_ONE_THREAD = threading.Lock()


def cpu_seconds(name: str, args) -> float:
    """CPU seconds of this thread for one yardstick call on ``args``, framed as the student's process frames
    her timed call: the call on inputs already there (built before the timing, see scenarios.stage), and the
    answer's copy encoded to bytes."""
    from checker.sandbox import wire

    with _ONE_THREAD:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in the student's process: the whole call on this thread's clock
        try:
            start = time.thread_time_ns()
            out = YARDSTICKS[name](*args)
            answer = {"result": {"out": {"tensor": out.detach().clone()}}, "output": ""}
            wire.encode(answer)
            return (time.thread_time_ns() - start) / 1e9
        finally:
            torch.set_num_threads(threads)
