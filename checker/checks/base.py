"""What every check shares: its outcome, and how it asks the sandbox for data."""
from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from checker import messages as msg
from checker.inputs import VISIBLE_SEED

CORRECTNESS = "correctness"  # right answers: a failure costs every point
RULE = "rule"  # what the exercise is about (forbidden or required ops, subclassing): likewise
CONSTRAINT = "constraint"  # efficiency and robustness (loops, speed, memory, errors): half the points


@dataclasses.dataclass
class Outcome:
    check: str
    passed: bool
    feedback: list[str]
    category: str = CORRECTNESS
    timing: dict | None = None


class NotAttempted(Exception):
    """The student's code is still the stub (or the name is missing)."""


class CodeNotRead(Exception):
    """The exercise's name runs code of the student's that is not what the source reading judged."""


class ExerciseStopped(Exception):
    """The child could not finish this exercise: time limit, crash, memory."""


@dataclasses.dataclass
class Answer:
    result: dict | None
    raised: dict | None
    output: str = ""

    def raised_problem(self, label: str) -> str:
        """The feedback line for student code that raised on a valid input."""
        r = self.raised or {}
        where = f" ({r['where']})" if r.get("where") else ""
        return msg.RAISED_ON_VALID_INPUT.format(input=label, type=r.get("type"), message=r.get("message"), where=where)

    def raised_text(self) -> str:
        r = self.raised or {}
        where = f" ({r['where']})" if r.get("where") else ""
        return f"{r.get('type')}: {r.get('message')}{where}"


class Context:
    """One exercise's view of the sandbox: probes it, within that exercise's time limit."""

    def __init__(self, exercise, sandbox, seconds: float, seed: int, memory_limit: str,
                 missing: str = msg.NOT_ATTEMPTED_MISSING, program=None):
        self.exercise = exercise
        self.missing = missing  # the text for a name the code never defined
        self.sandbox = sandbox
        self.seconds = seconds
        self.seed = seed
        self.memory_limit = memory_limit
        self.program = program  # the submitted source, parsed here (checker.source_evidence.Program), or None
        # every call of the exercise is traced when one of its checks forbids ops (``every_call``): a function that
        # knows which input the operations check traces must not get away with it on the others
        self.traces: list[tuple[str, dict]] = []  # (the input, what the trace saw)
        self.trace_every_call = any(getattr(c, "judges_every_call", hasattr(c, "every_call"))
                                    for c in getattr(exercise, "checks", ()))
        self.loop_baseline: tuple[int, str] | None = None  # a loop rule's op count in its copy, and on what

    def child_seed(self, offset: int) -> int:
        """A seed for torch's generator in the student's process (which can read it back with
        ``torch.initial_seed()``): the visible checks' fixed one, or for hidden checks a fresh random
        one that says nothing of the hidden seed (whose inputs are built here, in the grader)."""
        if self.seed == VISIBLE_SEED:
            return offset + self.seed
        return offset + secrets.randbits(30)

    def _judged_alone(self, params: dict) -> dict:
        """The probe's parameters, with the checker's versions of the exercises this one uses put in their place,
        and the lines of the submission the source reading judged (the child runs nothing of hers from elsewhere)."""
        judged = self.judged_lines()
        if judged is not None:
            params = {**params, "judged": judged}
        return {**params, "standins": list(self.exercise.uses)} if self.exercise.uses else params

    def judged_lines(self) -> list[list[int]] | None:
        """[cell, first line, last line] of each statement the source reading judged for this exercise or for the
        exercises it uses (each judged in its own right): its name's last binding and everything that reaches
        (``Program.reachable``); None with no source to read."""
        if self.program is None:
            return None
        if not hasattr(self, "_judged_lines"):
            bindings = self.program.reachable(self.exercise.name)
            self._judged_lines = [[b.cell, min([b.node.lineno] + [d.lineno for d in getattr(b.node, "decorator_list", [])]),
                                   b.node.end_lineno] for b in bindings]
        return self._judged_lines

    def _what(self, scenario: str) -> str:
        return msg.PROBE_ACTIVITY.get(scenario, "{name} (" + scenario + ")").format(name=self.exercise.name)

    def probe(self, scenario: str, about: str | None = None, fresh: bool = False, **params: Any) -> Answer:
        """The child runs ``scenario`` on the student's code; ``about`` names its input in feedback; ``fresh``: in a
        copy of the child made for this call (what the call leaves behind is gone: see child.in_a_copy)."""
        if self.trace_every_call and scenario in TRACEABLE and "trace" not in params:
            params["trace"] = {}
        params = self._judged_alone({"target": self.exercise.name, **params})
        answer = self._answer(self.sandbox.probe(scenario, params, self.seconds, self._what(scenario), fresh=fresh),
                              self._what(scenario))
        trace = (answer.result or {}).get("trace") if isinstance(answer.result, dict) else None
        if isinstance(trace, dict):
            self.traces.append((about or msg.A_TEST_INPUT, trace))
        return answer

    def stage(self, spec: dict) -> Answer:
        """Have the child build the next call's inputs from ``spec``, untimed (see scenarios.stage)."""
        return self._answer(self.sandbox.probe("stage", {"spec": spec}, self.seconds, self._what("stage")),
                            self._what("stage"))

    def timed_call(self, args: list | None, sample_g: list | None = None) -> tuple[Answer, float]:
        """The student's function on ``args`` (None: on the inputs :meth:`stage` had built) and the CPU seconds
        her jail spent on it (read from outside); with ``sample_g``, the .g it set on those arguments, there."""
        inputs = {"args": args} if args is not None else {"staged": True}
        params = self._judged_alone({"target": self.exercise.name, **inputs,
                                     **({"sample_g": sample_g} if sample_g else {})})
        answer, seconds = self.sandbox.timed_probe("timed_call", params, self.seconds, self._what("timed_call"))
        return self._answer(answer, self._what("timed_call")), seconds

    def yardstick_seconds(self, yardstick: str, args: list) -> float:
        """CPU seconds a yardstick takes on ``args`` here, in the grader (which never runs student code)."""
        from checker.yardsticks import cpu_seconds

        return cpu_seconds(yardstick, args)

    def _answer(self, answer: dict, what: str) -> Answer:
        if "unjudged" in answer:
            raise CodeNotRead(msg.CODE_NOT_READ.format(name=self.exercise.name,
                                                       detail=str(answer["unjudged"])[:300]))
        if "missing" in answer:
            raise NotAttempted(self.missing.format(name=answer["missing"]))
        raised = answer.get("raised")
        if raised:
            stub = raised.get("not_implemented")
            if stub:
                if isinstance(stub, str) and stub != self.exercise.name and stub in _exercise_names():
                    raise NotAttempted(msg.NOT_ATTEMPTED_CALLED_STUB.format(name=self.exercise.name, stub=stub))
                raise NotAttempted(msg.NOT_ATTEMPTED_STUB.format(name=self.exercise.name))
            if raised.get("memory"):
                raise ExerciseStopped(msg.OUT_OF_MEMORY.format(limit=self.memory_limit, what=what))
        return Answer(answer.get("result"), raised, str(answer.get("output", "")))


def _exercise_names() -> set[str]:
    """Every exercise's name (a stub that raised is named by its function: another exercise, or a method)."""
    from checker.registry import all_entries

    return {e.name for e in all_entries()}


TRACEABLE = ("call", "layer")  # the scenarios whose calls of student code the child can trace


class Check:
    """A check of one exercise. Subclasses set ``name`` and ``category`` and define ``run``."""

    name = "check"
    category = CORRECTNESS

    def run(self, ctx: Context) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def outcome(self, problems: list[str], passed_notes: list[str] | None = None, timing=None) -> Outcome:
        return Outcome(self.name, not problems, problems or list(passed_notes or []), self.category, timing)
