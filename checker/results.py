"""Results as data: one per exercise, one per notebook; JSON in the fixed CLI shape."""
from __future__ import annotations

import dataclasses

from checker.checks.base import Outcome

PASSED, FAILED, ERROR, NOT_ATTEMPTED, MANUAL = "passed", "failed", "error", "not_attempted", "manual"
STATUSES = (PASSED, FAILED, ERROR, NOT_ATTEMPTED, MANUAL)


@dataclasses.dataclass
class ExerciseResult:
    name: str
    status: str
    score: float
    max_score: float
    feedback: list[str]
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "score": float(self.score),
                "max_score": float(self.max_score), "feedback": list(self.feedback)}

    @property
    def timing(self) -> dict | None:
        return next((o.timing for o in self.outcomes if o.timing), None)


@dataclasses.dataclass
class NotebookResult:
    notebook: str
    exercises: list[ExerciseResult]
    notes: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    confinement: str = ""  # the sandbox's layers, "confined: ..." or "NOT CONFINED: ..."
    tampering: list[str] = dataclasses.field(default_factory=list)  # where the code reaches into the checker

    @property
    def score(self) -> float:
        return float(sum(e.score for e in self.exercises))

    @property
    def max_score(self) -> float:
        return float(sum(e.max_score for e in self.exercises))

    @property
    def all_passed(self) -> bool:
        return all(e.status == PASSED for e in self.exercises if e.status != MANUAL)

    def to_json(self) -> dict:
        return {"notebook": self.notebook, "score": self.score, "max_score": self.max_score,
                "exercises": [e.to_json() for e in self.exercises]}
