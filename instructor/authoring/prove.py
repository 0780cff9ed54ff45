"""``python -m instructor prove NOTEBOOK``: everything that proves one notebook's exercises, with a short report.

1. the source notebook is in step with the registry and the solutions (``sync``);
2. the reference solutions pass every check, on the visible inputs and on hidden seeds;
3. the released stubs are "not attempted", never "failed";
4. each realistic wrong answer (``instructor/authoring/wrong_answers.py``) fails with the messages it lists;
5. each lesson variant (``instructor/authoring/lesson_variants.py``, where the checkout has it) passes, unless it is listed
   as a form the catalogue forbids, which fails;
6. the mutants of the reference (``tests/mutants.py``) are killed, or listed as equivalent.

Steps 5 and 6 need the repository's ``tests`` folder; without it they are reported as skipped, with why.
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from checker.grading import Options, grade
from checker.registry import Exercise, entries
from checker.results import NOT_ATTEMPTED, PASSED

HIDDEN_SEEDS = (7, 1234, 99991)


@dataclasses.dataclass
class Step:
    name: str
    done: int = 0
    total: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    skipped: str = ""

    def line(self) -> str:
        if self.skipped:
            return f"  skip  {self.name}: {self.skipped}"
        mark = "  ok  " if not self.problems else "  FAIL"
        return f"{mark}  {self.name}: {self.done}/{self.total}"


def _write(folder: Path, notebook: str, replace: dict[str, str] | None = None, name: str = "") -> Path:
    from solutions.source import submission_cells, write_py

    return write_py(folder / f"{name or notebook}.py", submission_cells(notebook, replace))


def _exercises(notebook: str) -> list[str]:
    return [e.name for e in entries(notebook) if isinstance(e, Exercise)]


def step_in_step(notebook: str) -> Step:
    import nbformat

    from instructor.authoring import notebooks

    step = Step("source notebook in step with the registry and solutions", total=1)
    path = notebooks.path_of(notebook)
    try:
        before = path.read_text()
        after = nbformat.writes(notebooks.sync_notebook(nbformat.reads(before, as_version=4), notebook)) + "\n"
    except (OSError, ValueError) as exc:
        step.problems.append(str(exc))
        return step
    if after != before:
        step.problems.append(f"{path} is out of step: run `python -m instructor sync`")
    else:
        step.done = 1
    return step


def step_reference(notebook: str, folder: Path) -> Step:
    names = _exercises(notebook)
    step = Step(f"reference passes (visible inputs and {len(HIDDEN_SEEDS)} hidden seeds)",
                total=len(names) * (1 + len(HIDDEN_SEEDS)))
    path = _write(folder, notebook)
    for seed in (None, *HIDDEN_SEEDS):
        options = Options() if seed is None else Options(seed=seed, speed=False)
        for result in grade(path, notebook=notebook, options=options).exercises:
            if result.name not in names:
                continue
            if result.status == PASSED:
                step.done += 1
            else:
                step.problems.append(f"{result.name} (seed {seed or 'visible'}): {result.status}: "
                                     f"{'; '.join(result.feedback[:2])}")
    return step


def step_stubs(notebook: str, folder: Path) -> Step:
    from solutions.source import entry_sources, stub_of

    names = _exercises(notebook)
    step = Step("released stubs are not attempted", total=len(names))
    sources = entry_sources(notebook)
    path = _write(folder, notebook, {n: stub_of(sources[n]) for n in names if n in sources}, f"{notebook}_stubs")
    for result in grade(path, notebook=notebook).exercises:
        if result.name not in names:
            continue
        if result.status == NOT_ATTEMPTED:
            step.done += 1
        else:
            step.problems.append(f"{result.name}: the stub is {result.status}, not {NOT_ATTEMPTED}")
    return step


def step_wrong_answers(notebook: str, folder: Path) -> Step:
    from checker.messages import matches
    from instructor.authoring.wrong_answers import WRONG

    mine = [w for w in WRONG if w.notebook == notebook]
    step = Step("wrong answers fail with their messages", total=len(mine))
    if not mine:
        step.skipped = "none written for this notebook (instructor/authoring/wrong_answers.py)"
        return step
    for i, wrong in enumerate(mine):
        path = _write(folder, notebook, dict(wrong.replace), f"{notebook}_wrong{i}")
        result = next(e for e in grade(path, notebook=notebook, only=[wrong.exercise]).exercises)
        missing = [t for t in wrong.expected if not matches(t, result.feedback)]
        if result.status != wrong.status or missing:
            step.problems.append(f"{wrong.exercise}/{wrong.id}: {result.status}, missing {missing or 'nothing'}")
        else:
            step.done += 1
    return step


def step_lesson_variants(notebook: str, folder: Path) -> Step:
    step = Step("lesson variants judged as the catalogue says")
    try:
        from instructor.authoring.lesson_variants import VARIANTS
    except ImportError as exc:
        step.skipped = f"no tests folder in this checkout ({exc})"
        return step
    mine = [v for v in VARIANTS if v.notebook == notebook]
    step.total = len(mine)
    if not mine:
        step.skipped = "none written for this notebook (instructor/authoring/lesson_variants.py)"
        return step
    for i, variant in enumerate(mine):
        path = _write(folder, notebook, {variant.exercise: variant.source, **dict(variant.replace)},
                      f"{notebook}_variant{i}")
        result = grade(path, notebook=notebook, only=[variant.exercise]).exercises[0]
        if (result.status == PASSED) == (not variant.conflict):
            step.done += 1
        else:
            step.problems.append(f"{variant.exercise}/{variant.id}: {result.status}: {'; '.join(result.feedback[:1])}")
    return step


def step_mutants(notebook: str) -> Step:
    step = Step("mutants of the reference killed")
    try:
        from tests import mutants
    except ImportError as exc:
        step.skipped = f"no tests folder in this checkout ({exc})"
        return step
    listed = mutants.equivalents()
    chosen = [m for m in mutants.generate([notebook]) if m.id not in listed]
    verdicts = mutants.run(chosen, jobs=2)
    real = [v for v in verdicts if v.mutant.operator != mutants.REFERENCE]
    step.total = len(real)
    step.done = sum(1 for v in real if v.killed)
    step.problems = [f"{v.mutant.id} survived: {v.mutant.description}" for v in real if not v.killed]
    step.problems += [f"the reference of {v.mutant.exercise} fails" for v in verdicts
                      if v.mutant.operator == mutants.REFERENCE and v.killed]
    return step


def prove(notebook: str, with_mutants: bool = True, say=print) -> int:
    """Run every step, printing each as it ends; 0 when all hold, 1 otherwise."""
    steps = []
    with tempfile.TemporaryDirectory(prefix="prove-") as tmp:
        folder = Path(tmp)
        for make in (lambda: step_in_step(notebook), lambda: step_reference(notebook, folder),
                     lambda: step_stubs(notebook, folder), lambda: step_wrong_answers(notebook, folder),
                     lambda: step_lesson_variants(notebook, folder),
                     *([lambda: step_mutants(notebook)] if with_mutants else [])):
            step = make()
            steps.append(step)
            say(step.line())
            for problem in step.problems[:10]:
                say(f"        {problem}")
    failed = [s for s in steps if s.problems]
    say(f"{notebook}: {'proved' if not failed else f'{len(failed)} step(s) failed'}")
    return 1 if failed else 0
