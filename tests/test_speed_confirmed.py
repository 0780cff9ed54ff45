"""A speed failure is measured twice: a batch stretched by the scheduler does not fail the lesson's code."""
from __future__ import annotations

import pytest

from checker import messages as msg
from checker.checks.base import Answer
from checker.checks.speed import SpeedBar
from checker.inputs import build
from checker.registry import locate


def speed_bar() -> SpeedBar:
    return next(c for c in locate("matmul_broadcast").checks if isinstance(c, SpeedBar))


class ScriptedContext:
    """Answers each timing probe with the next of ``ratios`` (student time over yardstick time)."""

    seed = 7

    def __init__(self, bar: SpeedBar, ratios: list[float]):
        self.bar, self.ratios, self.asked = bar, list(ratios), 0

    def probe(self, scenario, **params):
        assert scenario == "timing"
        ratio = self.ratios[self.asked]
        self.asked += 1
        spec = params["spec"]
        last = build(dict(spec, seed=spec["seed"] + params["rounds"] - 1))
        out = self.bar.expected(*last)
        rounds = params["rounds"]
        return Answer({"student": [ratio * 1e-4] * rounds, "yardstick": [1e-4] * rounds,
                       "last_seed": spec["seed"] + rounds - 1, "out": {"tensor": out}}, None)


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
