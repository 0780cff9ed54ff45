"""Keep the instructor notebooks in step with the registry and the solutions.

The notebooks in ``source/foundations`` are the master for the lesson's prose and demos.
The cells that carry an exercise or a question are generated: each solution cell from
``solutions/`` (with nbgrader's solution markers), each graded test cell from the
registry (with its points), each written question from the registry and its model answer
from ``solutions/answers.py``. ``sync`` regenerates them in place (a placeholder cell
``{"foundations": {"slot": "exercise"|"question", "name": ...}}`` grows into them);
an entry with no cell yet gets its cells before the notebook's "Check your progress" section; a test proves
that sync changes nothing in the committed notebooks.
"""
from __future__ import annotations

from checker import course

import copy
import textwrap
from pathlib import Path

import nbformat

from checker.registry import NOTEBOOKS, Exercise, Question, entries
from instructor.authoring.regions import with_solution_regions
from solutions.answers import ANSWERS
from solutions.source import entry_sources

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / course.SOURCE_DIR / course.ASSIGNMENT
KEY = course.METADATA_KEY


def _nbgrader(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if grade:
        meta["points"] = points
    return meta


COMMENT_WIDTH = 79  # a locked cell's comments fit the narrowest notebook view, the feedback and the formgrader

CHECK_WORDS = {
    "values": "answers on random and edge-case inputs", "bad_shapes": "the error on mismatched shapes",
    "operations": "which torch operations it calls", "loops": "no loop left in", "speed": "speed against the bar",
    "memory": "no needless large tensors", "gradients": "every .g against torch.autograd",
    "statistics": "mean, std and randomness of the weights", "subclass": "that it subclasses Module",
    "base_class": "a new Module subclass built on it", "autograd_function": "forward, backward and gradcheck",
    "layer": "parameters, initialisation and output", "model": "layers, loss and backward",
    "by_hand": "gradients by hand, no autograd", "step": "the state a step leaves",
}


def test_cell_source(exercise: Exercise) -> str:
    checks = "; ".join(CHECK_WORDS.get(check.name, check.name) for check in exercise.checks)
    points = f"{exercise.points:g} point{'' if exercise.points == 1 else 's'}"
    said = textwrap.wrap(f"Graded: {exercise.name} ({points}). The checker runs your code in a separate process "
                         f"and checks: {checks}.", width=COMMENT_WIDTH - 2)
    return (
        "".join(f"# {line}\n" for line in said) +
        f"from checker import grade_cell\n"
        f"grade_cell({exercise.name!r}, notebook={exercise.notebook!r})"
    )


def exercise_cells(exercise: Exercise) -> list:
    source = entry_sources(exercise.notebook)[exercise.name]
    solution = nbformat.v4.new_code_cell(with_solution_regions(source))
    solution.metadata = {"nbgrader": _nbgrader(exercise.name, grade=False, solution=True, locked=False),
                         KEY: {"generated": "solution", "name": exercise.name}}
    solution.id = f"{exercise.name}-solution"
    test = nbformat.v4.new_code_cell(test_cell_source(exercise))
    test.metadata = {"nbgrader": _nbgrader(course.test_cell_id(exercise.name), grade=True, solution=False, locked=True,
                                           points=exercise.points),
                     KEY: {"generated": "test", "name": exercise.name}}
    test.id = f"{exercise.name}-test"
    return [solution, test]


def question_cells(question: Question) -> list:
    prompt = nbformat.v4.new_markdown_cell(
        f"**Written question ({question.points:g} point{'' if question.points == 1 else 's'}, graded by hand).** "
        f"{question.prompt}")
    prompt.metadata = {"nbgrader": _nbgrader(f"{question.name}_prompt", grade=False, solution=False, locked=True),
                       KEY: {"generated": "prompt", "name": question.name}}
    prompt.id = f"{question.name}-prompt"
    answer = nbformat.v4.new_markdown_cell(ANSWERS[question.name].strip())
    answer.metadata = {"nbgrader": _nbgrader(question.name, grade=True, solution=True, locked=False,
                                             points=question.points),
                       KEY: {"generated": "answer", "name": question.name}}
    answer.id = f"{question.name}-answer"
    return [prompt, answer]


def generated_cells(entry) -> list:
    return exercise_cells(entry) if isinstance(entry, Exercise) else question_cells(entry)


CHECK_PROGRESS = "## Check your progress"  # the section a notebook ends with; new entries go before it


def order_of(notebook: str) -> list[str]:
    return [e.name for e in entries(notebook)]


def _placed_order(cells, by_name) -> list[str]:
    return list(dict.fromkeys(c.get("metadata", {}).get(KEY, {}).get("name") for c in cells
                              if c.get("metadata", {}).get(KEY, {}).get("name") in by_name))


def sync_notebook(nb, notebook: str):
    """The notebook with every generated cell rebuilt, and the cells of an entry it has no cell for added (before
    "Check your progress"); raises for a cell that names no entry, and for exercises out of catalogue order."""
    by_name = {e.name: e for e in entries(notebook)}
    cells, placed = [], []
    for cell in nb.cells:
        tag = cell.get("metadata", {}).get(KEY, {})
        name = tag.get("name")
        if not tag:
            cells.append(cell)
            continue
        if name not in by_name:
            raise ValueError(f"{notebook}: a cell is marked for {name!r}, which the registry does not have")
        if name in placed:
            continue  # the rest of this entry's generated cells: rebuilt with the first
        placed.append(name)
        cells.extend(generated_cells(by_name[name]))
    missing = [name for name in by_name if name not in placed]
    if missing:  # an entry declared but not placed yet: its cells go before "Check your progress" (else at the end)
        at = next((i for i, c in enumerate(cells) if c.get("cell_type") == "markdown" and
                   "".join(c.get("source", "")).startswith(CHECK_PROGRESS)), len(cells))
        cells[at:at] = [cell for name in missing for cell in generated_cells(by_name[name])]
    order = order_of(notebook)
    exercises_in_order = [n for n in _placed_order(cells, by_name) if isinstance(by_name[n], Exercise)]
    if exercises_in_order != [n for n in order if isinstance(by_name[n], Exercise)]:
        raise ValueError(f"{notebook}: exercises are out of catalogue order: {exercises_in_order}")
    out = copy.deepcopy(nb)
    out.cells = cells
    out.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"})
    return out


def path_of(notebook: str, root: Path = SOURCE) -> Path:
    return root / f"{notebook}.ipynb"


def sync(root: Path = SOURCE, check_only: bool = False) -> list[str]:
    """Rebuild the generated cells of every notebook; returns the notebooks that changed."""
    changed = []
    for notebook in NOTEBOOKS:
        path = path_of(notebook, root)
        before = path.read_text()
        synced = sync_notebook(nbformat.reads(before, as_version=4), notebook)
        after = nbformat.writes(synced) + "\n"
        if after != before:
            changed.append(notebook)
            if not check_only:
                path.write_text(after)
    return changed
