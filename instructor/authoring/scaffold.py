"""Scaffolding: the files a new notebook or a new exercise needs, written from templates, once.

``new-notebook 06_cnn "A convolutional network"`` writes the three homes of a notebook: its declarations
(``checker/exercises/loss.py``, found by the registry through its ``NOTEBOOK = "05_loss"``), its reference
solutions (``solutions/loss.py``) and its source notebook (``source/foundations/05_loss.ipynb``).
``new-exercise 05_loss log_softmax`` adds an exercise to all three: a reference to write, a declaration
with a values check on generated cases, and a placeholder cell that ``sync`` grows into the solution and
test cells. ``new-question`` does the same for a written question. Everything else (notebook lists,
module maps, totals, the catalogue, the release) is derived from these files.
"""
from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import nbformat

from checker import course
from checker.registry import declared_notebooks
from instructor.authoring.notebooks import CHECK_PROGRESS

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_NAME = re.compile(r"^(\d\d)_([a-z][a-z0-9_]*)$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

BAD_NOTEBOOK_NAME = "{name!r} is not a notebook name: two digits, an underscore, then lower-case letters (05_loss)"
NOTEBOOK_EXISTS = "{name} already exists: {path}"
NO_SUCH_NOTEBOOK = "no notebook {name}: none of checker/exercises/*.py declares NOTEBOOK = {name!r} ({known})"
BAD_ENTRY_NAME = "{name!r} is not a Python name: an exercise is found by the name of its def or class"
ENTRY_EXISTS = "{notebook} already has {name} (in {path})"
NAME_TAKEN = ("{name} is already an entry of {other} (in {path}): names are unique across the course (written "
              "answers, the mistakes report and --only find an entry by its name); choose another")
NO_ENTRIES_LIST = "{path} has no `ENTRIES = [...]` list to add {name} to"


NEXT_STEPS = ("next: write what the scaffold marks NotImplementedError (the reference in solutions/, the expected "
              "value and the cases in checker/exercises/), then `python -m instructor sync`, `catalogue`, "
              "`prove NOTEBOOK` (docs/AUTHORING.md)")


class AuthoringError(ValueError):
    """A scaffolding command refused: ``what`` says why, ``path`` where (when a file is the reason)."""

    def __init__(self, what: str, path: Path | None = None):
        super().__init__(what)
        self.what, self.path = what, path


@dataclasses.dataclass(frozen=True)
class Homes:
    """Where a notebook's three files live in a course checkout rooted at ``root``."""

    root: Path
    notebook: str
    stem: str

    @property
    def declarations(self) -> Path:
        return self.root / "checker" / "exercises" / f"{self.stem}.py"

    @property
    def solutions(self) -> Path:
        return self.root / "solutions" / f"{self.stem}.py"

    @property
    def source(self) -> Path:
        return self.root / course.SOURCE_DIR / course.ASSIGNMENT / f"{self.notebook}.ipynb"


def declared(root: Path = ROOT) -> dict[str, Path]:
    """notebook -> its declarations module in the checkout at ``root``, as the registry finds them."""
    return declared_notebooks(root / "checker" / "exercises")


def homes_of(notebook: str, root: Path = ROOT) -> Homes:
    known = declared(root)
    if notebook not in known:
        raise AuthoringError(NO_SUCH_NOTEBOOK.format(name=notebook, known=", ".join(sorted(known)) or "none"))
    return Homes(root, notebook, known[notebook].stem)


# -- a notebook ---------------------------------------------------------------------------------
DECLARATIONS = '''"""{notebook}: {title}. The exercises and written questions of this notebook, each declared once.

Add entries with ``python -m instructor new-exercise {notebook} NAME`` (or ``new-question``); the check
kinds and how to prove an exercise are in docs/AUTHORING.md.
"""
from __future__ import annotations

import torch

from checker.checks.values import Values
from checker.compare import scaled_tolerance
from checker.inputs import Case, generator, label, randn
from checker.registry import Exercise, Question

NOTEBOOK = "{notebook}"

ENTRIES = [
]
'''

SOLUTIONS = '''"""Reference solutions of {notebook}: {title}. One top-level def or class per exercise, in catalogue
order; each one's signature and docstring become the student's stub, its body the hidden solution."""
from __future__ import annotations

import torch
from torch import Tensor

ANSWERS = {{}}  # model answers to this notebook's written questions: name -> text (graded by hand)
'''


def _source_notebook(notebook: str, title: str) -> nbformat.NotebookNode:
    number = int(notebook[:2])
    cells = [
        nbformat.v4.new_markdown_cell(f"# {number}. {title}\n\n*Part 2, lesson 8 of the fast.ai course (fastbook "
                                      f"chapter 17).*\n\nWhat this notebook builds, and why: write it here."),
        nbformat.v4.new_code_cell("import math, torch\nfrom torch import Tensor\nfrom checker import check, check_all\n"),
        nbformat.v4.new_markdown_cell(f"{CHECK_PROGRESS}\n\nThis runs every check of this notebook on the code you "
                                      "have run in this kernel (run the cells you changed first)."),
        nbformat.v4.new_code_cell(f"check_all({notebook!r})"),
    ]
    for i, cell in enumerate(cells):
        cell.id = f"{notebook}-scaffold-{i}"
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def new_notebook(notebook: str, title: str, root: Path = ROOT) -> list[Path]:
    """The three files of a new notebook; returns them. Refuses a bad name or one that exists."""
    match = NOTEBOOK_NAME.match(notebook)
    if not match:
        raise AuthoringError(BAD_NOTEBOOK_NAME.format(name=notebook))
    if notebook in declared(root):
        raise AuthoringError(NOTEBOOK_EXISTS.format(name=notebook, path=declared(root)[notebook]))
    homes = Homes(root, notebook, match.group(2))
    for path in (homes.declarations, homes.solutions, homes.source):
        if path.exists():
            raise AuthoringError(NOTEBOOK_EXISTS.format(name=notebook, path=path), path)
    homes.declarations.write_text(DECLARATIONS.format(notebook=notebook, title=title))
    homes.solutions.write_text(SOLUTIONS.format(notebook=notebook, title=title))
    homes.source.parent.mkdir(parents=True, exist_ok=True)
    homes.source.write_text(nbformat.writes(_source_notebook(notebook, title)) + "\n")
    return [homes.declarations, homes.solutions, homes.source]


# -- an entry -----------------------------------------------------------------------------------
REFERENCE = '''

def {name}(x: Tensor) -> Tensor:
    """{summary}."""
    raise NotImplementedError("write the reference solution of {name} here")
'''

EXERCISE_HELPERS = '''

def {name}_cases(seed: int) -> list[Case]:
    """The inputs {name} is judged on (hidden checks pass another seed): random, one row, float64."""
    g = generator(seed + {offset})
    specs = [("random", randn(g, 4, 3)), ("one row", randn(g, 1, 5)),
             ("float64", randn(g, 3, 2, dtype=torch.float64))]
    return [Case(label(("x",), (x,), note), (x,), note) for note, x in specs]


def {name}_expected(x):
    """The right answer, computed in the grader (any torch: the rules bind the student's code only)."""
    raise NotImplementedError("write how the grader computes the expected value of {name}")
'''

EXERCISE_ENTRY = ('    Exercise("{name}", NOTEBOOK, {points:g}, "{summary}",\n'
                  '             checks=(Values({name}_cases, {name}_expected, names=("x",), tolerance=scaled_tolerance),)),\n')
QUESTION_ENTRY = '    Question("{name}", NOTEBOOK, {points:g}, "{prompt}"),\n'


def _entries_close(text: str, path: Path, name: str) -> int:
    """The offset of the ``]`` that closes ``ENTRIES = [``."""
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ENTRIES" for t in node.targets) \
                and isinstance(node.value, ast.List):
            lines = text.splitlines(keepends=True)
            return sum(len(line) for line in lines[:node.value.end_lineno - 1]) + node.value.end_col_offset - 1
    raise AuthoringError(NO_ENTRIES_LIST.format(path=path, name=name), path)


def _add_entry(path: Path, name: str, entry: str, helpers: str = "") -> None:
    text = path.read_text()
    close = _entries_close(text, path, name)
    start = text.rindex("ENTRIES = [", 0, close)
    text = text[:close] + entry + text[close:]
    if helpers:
        text = text[:start].rstrip("\n") + "\n" + helpers + "\n\n" + text[start:]
    path.write_text(text)


def _defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("Exercise", "Question") \
                and node.args and isinstance(node.args[0], ast.Constant):
            names.add(node.args[0].value)
    return names


def _check_new(homes: Homes, name: str) -> None:
    if not IDENTIFIER.match(name):
        raise AuthoringError(BAD_ENTRY_NAME.format(name=name))
    for path in (homes.declarations, homes.solutions):
        if name in _defined(path):
            raise AuthoringError(ENTRY_EXISTS.format(notebook=homes.notebook, name=name, path=path), path)
    for other, path in declared(homes.root).items():
        if other != homes.notebook and name in _defined(path):
            raise AuthoringError(NAME_TAKEN.format(name=name, other=other, path=path), path)


def _placeholder(name: str, slot: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(f"(placeholder: `sync` puts the {slot} `{name}` here)")
    cell.metadata[course.METADATA_KEY] = {"slot": slot, "name": name}
    cell.id = f"{name}-placeholder"
    return cell


def add_placeholder(path: Path, name: str, slot: str) -> None:
    """A placeholder cell for ``name`` before the notebook's "Check your progress" section (else at its end)."""
    nb = nbformat.read(path, as_version=4)
    at = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and
               c.source.startswith(CHECK_PROGRESS)), len(nb.cells))
    nb.cells.insert(at, _placeholder(name, slot))
    path.write_text(nbformat.writes(nb) + "\n")


def new_exercise(notebook: str, name: str, points: float = 2.0, summary: str = "", root: Path = ROOT) -> list[Path]:
    """An exercise in the notebook's three files: a reference stub, a declaration with a values check on
    generated cases (its expected value to write), a placeholder cell. Returns the files changed."""
    homes = homes_of(notebook, root)
    _check_new(homes, name)
    summary = (summary or f"what {name} computes").replace('"', "'")
    offset = 100 + 10 * len(_defined(homes.declarations))  # another stream of inputs than its neighbours'
    _add_entry(homes.declarations, name, EXERCISE_ENTRY.format(name=name, points=points, summary=summary),
               EXERCISE_HELPERS.format(name=name, offset=offset))
    with homes.solutions.open("a") as f:
        f.write(REFERENCE.format(name=name, summary=summary[:1].upper() + summary[1:]))
    add_placeholder(homes.source, name, "exercise")
    return [homes.declarations, homes.solutions, homes.source]


def new_question(notebook: str, name: str, points: float = 2.0, prompt: str = "", root: Path = ROOT) -> list[Path]:
    """A written question: its declaration, a model answer to write, a placeholder cell."""
    homes = homes_of(notebook, root)
    _check_new(homes, name)
    prompt = (prompt or f"the question {name} asks").replace('"', "'")
    _add_entry(homes.declarations, name, QUESTION_ENTRY.format(name=name, points=points, prompt=prompt))
    text = homes.solutions.read_text()
    marker = "ANSWERS = {"
    if marker not in text:
        text += "\nANSWERS = {}\n"
    at = text.index(marker) + len(marker)
    text = text[:at] + f"\n    {name!r}: \"\"\"\nThe model answer to {name}: write it here.\n\"\"\"," + text[at:]
    homes.solutions.write_text(text)
    add_placeholder(homes.source, name, "question")
    return [homes.declarations, homes.solutions, homes.source]
