"""Solution regions: a reference solution's source with its bodies between nbgrader's markers.

Functions keep their signature and docstring; classes keep their header, docstring and
every method's signature and docstring. nbgrader's release replaces each region with the
code stub, so an untouched function or method raises NotImplementedError when called.
"""
from __future__ import annotations

import ast

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _body_span(node: ast.FunctionDef) -> tuple[int, int]:
    """First and last line (1-based) of the body after a leading docstring."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body:
        raise ValueError(f"{node.name} has no body after its docstring")
    return body[0].lineno, node.end_lineno


def _only_raises_not_implemented(node: ast.FunctionDef) -> bool:
    """A base-class method that only raises NotImplementedError is given, not an exercise."""
    body = [n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def regions(source: str) -> list[tuple[int, int]]:
    """The (first, last) line spans to wrap: the function's body, or each method's body."""
    node = ast.parse(source).body[0]
    if isinstance(node, ast.FunctionDef):
        return [_body_span(node)]
    if isinstance(node, ast.ClassDef):
        methods = [n for n in node.body if isinstance(n, ast.FunctionDef)]
        if not methods:
            raise ValueError(f"class {node.name} has no methods")
        return [_body_span(m) for m in methods if not _only_raises_not_implemented(m)]
    raise ValueError("a solution entry must be one def or class")


def with_solution_regions(source: str) -> str:
    lines = source.splitlines()
    for first, last in sorted(regions(source), reverse=True):
        indent = lines[first - 1][: len(lines[first - 1]) - len(lines[first - 1].lstrip())]
        lines[last:last] = [f"{indent}{END}"]
        lines[first - 1:first - 1] = [f"{indent}{BEGIN}"]
    return "\n".join(lines)


def without_solution_regions(source: str) -> str:
    """The inverse: the solution as it stands in solutions/ (used to prove they agree)."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))
