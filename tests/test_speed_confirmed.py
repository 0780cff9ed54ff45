"""A speed failure is measured twice: a batch stretched by the scheduler does not fail the lesson's code."""
from __future__ import annotations

import pytest

from checker import messages as msg
from checker.checks.base import Answer
from checker.checks.speed import SpeedBar
from checker.registry import locate


def speed_bar() -> SpeedBar:
    return next(c for c in locate("matmul_broadcast").checks if isinstance(c, SpeedBar))


class ScriptedContext:
    """Answers each measurement with the next of ``ratios`` (student CPU time over yardstick CPU time)."""

    seed = 7
    trace_every_call = False  # a speed bar alone forbids nothing

    def __init__(self, bar: SpeedBar, ratios: list[float]):
        self.bar, self.ratios, self.asked, self.calls = bar, list(ratios), 0, 0

    def yardstick_seconds(self, yardstick, args):
        assert yardstick == self.bar.yardstick
        return 1e-4

    def stage(self, spec):
        from checker.inputs import build
        self.staged = build(spec)
        return Answer({"staged": True}, None)

    def timed_call(self, args, sample_g=None):
        args = self.staged if args is None else args
        ratio = self.ratios[self.asked]
        self.calls += 1
        if self.calls == self.bar.rounds:  # one measurement done: the next one gets the next ratio
            self.asked, self.calls = self.asked + 1, 0
        return Answer({"out": {"tensor": self.bar.expected(*args)}}, None), ratio * 1e-4


@pytest.mark.parametrize("ratios, asked, passed, shown", [
    ([1.4], 1, True, 1.4),            # under the bar: measured once
    ([8.2, 1.4], 2, True, 1.4),       # over, then under: the stretched batch does not count
    ([8.2, 9.0], 2, False, 8.2),      # slow both times: it fails, with the lower ratio
    ([9.0, 8.2], 2, False, 8.2),
])
def test_a_speed_failure_is_confirmed_by_a_second_measurement(ratios, asked, passed, shown):
    bar = speed_bar()
    ctx = ScriptedContext(bar, ratios)
    outcome = bar.run(ctx)
    assert ctx.asked == asked
    assert outcome.passed is passed
    assert outcome.timing["ratio"] == pytest.approx(shown)
    template = msg.SPEED_PASSED if passed else msg.SPEED_FAILED
    assert template.split("{")[0] in outcome.feedback[0]
