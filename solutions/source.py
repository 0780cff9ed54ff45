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
