"""The source of each reference solution, for generating notebooks and example submissions.

Instructor-side only: it reads this package, which students never receive.
"""
from __future__ import annotations

import ast
import importlib
import inspect

from solutions import NOTEBOOK_MODULES


def module_source(notebook: str) -> str:
    return inspect.getsource(importlib.import_module(NOTEBOOK_MODULES[notebook]))


def imports(notebook: str) -> str:
    """The import lines the notebook's solutions rely on."""
    tree = ast.parse(module_source(notebook))
    lines = module_source(notebook).splitlines()
    return "\n".join(lines[n.lineno - 1] for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def entry_sources(notebook: str) -> dict[str, str]:
    """name -> source of the top-level def or class, in file order."""
    text = module_source(notebook)
    tree = ast.parse(text)
    return {node.name: ast.get_source_segment(text, node) for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def body_lines(source: str) -> list[str]:
    """The lines of a def or class after its first line: what a solution region holds."""
    return source.splitlines()[1:]


STUB = "raise NotImplementedError()"


def stub_of(source: str) -> str:
    """The nbgrader-style stub of a def or class: signature kept, body replaced."""
    first = source.splitlines()[0]
    return f"{first}\n    {STUB}\n"


def submission_cells(notebook: str, replace: dict[str, str] | None = None, drop=(), extra_cells=()) -> list[str]:
    """Code cells of a submission built from the solutions: the imports, then one cell per entry (replaced or
    dropped as asked), then ``extra_cells``."""
    replace = replace or {}
    cells = [imports(notebook)]
    for name, source in entry_sources(notebook).items():
        if name in drop:
            continue
        cells.append(replace.get(name, source))
    return cells + list(extra_cells)


def write_py(path, cells: list[str]):
    """A submission as a ``# %%`` script (the checker reads those as notebooks)."""
    path.write_text("\n\n".join(f"# %%\n{c}\n" for c in cells))
    return path
