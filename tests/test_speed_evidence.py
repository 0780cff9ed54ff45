"""The speed bar's evidence: every timed call meets inputs no call has met (a memo of earlier inputs finds
nothing), and every timed call's answer is checked, the gradients it sets too (sampled at positions drawn per
call), so code that behaves otherwise while timed earns nothing for it (attack round 19)."""
from __future__ import annotations

from checker import messages as msg
from checker.grading import grade
from checker.results import FAILED, PASSED
from tests.helpers import matches, submission

# a slow but right matmul_broadcast (a loop over every entry of the result, a dot product each) ...
SLOW_BROADCAST = ("def _slow(a, b):\n    n, k = a.shape\n    k2, m = b.shape\n    if k != k2:\n"
                  "        raise ValueError('inner dimensions differ')\n    c = torch.zeros(n, m, dtype=a.dtype)\n"
                  "    for i in range(n):\n        for j in range(m):\n            c[i, j] = (a[i] * b[:, j]).sum()\n"
                  "    return c\n")
# ... answered from a memo of every input it was given before (compared by content)
MEMO = ("_memo = []\ndef matmul_broadcast(a, b):\n    for old_a, old_b, out in _memo:\n"
        "        if old_a.shape == a.shape and old_b.shape == b.shape and torch.equal(old_a, a) and torch.equal(old_b, b):\n"
        "            return out.clone()\n    out = _slow(a, b)\n    _memo.append((a.clone(), b.clone(), out))\n    return out\n")
# right on every call but one in two of the speed bar's size (the published one), whichever it is
WRONG_EVERY_OTHER = ("_calls = []\ndef matmul_broadcast(a, b):\n    out = (a[:, :, None] * b[None, :, :]).sum(1)\n"
                     "    if tuple(a.shape) == (32, 64):\n        _calls.append(1)\n        if len(_calls) % 2:\n"
                     "            return out * 0\n    return out\n")
# forward_and_backward without its backward at the speed bar's size (the MNIST batch): fast, and the loss right
FORWARD_ONLY_WHEN_TIMED = (
    "def forward_and_backward(inp, targ, w1, b1, w2, b2):\n    l1 = inp @ w1 + b1\n    l2 = l1.clamp_min(0.0)\n"
    "    out = l2 @ w2 + b2\n    loss = (out.squeeze(-1) - targ).pow(2).mean()\n    if inp.shape[0] == 10000:\n"
    "        return loss\n    mse_grad(out, targ)\n    lin_grad(l2, out, w2, b2)\n    relu_grad(l1, l2)\n"
    "    lin_grad(inp, l1, w1, b1)\n    return loss\n")

# torch.randn replaced through torch's namespace, to do the slow work while the checker builds the timed call's
# inputs (before its timing starts) and answer the timed call from it (review of the staged inputs)
WORK_WHILE_INPUTS_ARE_BUILT = (
    "_memo, _built = {}, []\n_randn = torch.randn\n"
    "def _watching(*args, **kwargs):\n    t = _randn(*args, **kwargs)\n"
    "    if _built and t.dim() == 2 and _built[-1].dim() == 2 and _built[-1].shape[1] == t.shape[0]:\n"
    "        _memo[id(_built[-1])] = _slow(_built[-1], t)\n    _built.append(t)\n    return t\n"
    "vars(torch).update({'ran' + 'dn': _watching})\n"
    "def matmul_broadcast(a, b):\n    out = _memo.pop(id(a), None)\n    return out if out is not None else _slow(a, b)\n")


def _speed(path, exercise):
    result = grade(path, only=[exercise]).exercises[0]
    return result, next((o for o in result.outcomes if o.check == "speed"), None)


def test_a_memo_of_earlier_inputs_meets_none_and_slow_code_stays_slow(tmp_path):
    result, speed = _speed(submission(tmp_path, "01_matmul", replace={"matmul_broadcast": SLOW_BROADCAST + MEMO}),
                           "matmul_broadcast")
    assert speed is not None and not speed.passed, result.feedback
    assert matches(msg.SPEED_FAILED, result.feedback) and result.score == result.max_score / 2, result.feedback


def test_every_timed_answer_is_checked_not_only_the_last(tmp_path):
    result, speed = _speed(submission(tmp_path, "01_matmul", replace={"matmul_broadcast": WRONG_EVERY_OTHER}),
                           "matmul_broadcast")
    assert result.status == FAILED and matches(msg.SPEED_WRONG_ANSWERS, result.feedback), result.feedback


def test_a_backward_skipped_while_timed_is_a_wrong_answer_and_the_honest_one_passes(tmp_path):
    result, _ = _speed(submission(tmp_path, "03_backprop", replace={"forward_and_backward": FORWARD_ONLY_WHEN_TIMED}),
                       "forward_and_backward")
    assert result.status == FAILED and matches(msg.SPEED_WRONG_ANSWERS, result.feedback), result.feedback
    assert any("inp.g was not set" in line for line in result.feedback), result.feedback
    (tmp_path / "honest").mkdir()
    honest, speed = _speed(submission(tmp_path / "honest", "03_backprop"), "forward_and_backward")
    assert honest.status == PASSED and speed is not None and speed.passed, honest.feedback


def test_no_code_of_hers_runs_while_the_timed_inputs_are_built(tmp_path):
    """The timed call's inputs are built in her process before the timing starts, by functions bound before her code
    ran: her own torch.randn, put in torch's namespace, never sees them, so the slow work it would do there, untimed,
    is not done, and the slow code is timed as it is."""
    result, speed = _speed(submission(tmp_path, "01_matmul", replace={
        "matmul_broadcast": SLOW_BROADCAST + WORK_WHILE_INPUTS_ARE_BUILT}), "matmul_broadcast")
    assert speed is not None and not speed.passed, result.feedback
    assert matches(msg.SPEED_FAILED, result.feedback) and result.score == result.max_score / 2, result.feedback


# a gradient 5% off, only on the timed batch: within float32's rounding of a 10,000-row sum it is not
FIVE_PERCENT_OFF_WHEN_TIMED = FORWARD_ONLY_WHEN_TIMED.replace(
    "    if inp.shape[0] == 10000:\n        return loss\n", "").replace(
    "    lin_grad(inp, l1, w1, b1)\n    return loss\n",
    "    lin_grad(inp, l1, w1, b1)\n    if inp.shape[0] == 10000:\n        w1.g = w1.g * 1.05\n    return loss\n")


def test_a_gradient_a_few_percent_off_while_timed_is_a_wrong_answer(tmp_path):
    """The timed answers' gradients are compared within a hundredth of their largest entry (float32's sums over the
    timed batch, in another order, need more than a thousandth): a w1.g 5% off on the timed batch still fails."""
    result, _ = _speed(submission(tmp_path, "03_backprop", replace={"forward_and_backward": FIVE_PERCENT_OFF_WHEN_TIMED}),
                       "forward_and_backward")
    assert result.status == FAILED and matches(msg.SPEED_WRONG_ANSWERS, result.feedback), result.feedback
    assert any("w1.g" in line for line in result.feedback), result.feedback
