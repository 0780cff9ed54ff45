"""What this kernel ran, as ``check()`` replays it: the student's code, not the lesson's demonstrations.

``check()`` grades the code the kernel has run (so a student need not save first). IPython keeps
every cell's text in ``In``; this module adds the kernel's own record of how each run ended
(a ``post_run_cell`` hook installed when ``checker`` is imported) and reads the saved notebook
for what each cell is. The cells replayed are, in the order of their last run:

- not the calls of the checker itself, nor the test cells and demonstrations (tagged ``demo``):
  a file is graded without them too, and a demonstration can be slow;
- of a cell whose last run was interrupted (it hung, and the student pressed stop), only its
  definitions (``def``, ``class``, ``import``, a name given a literal such as ``losses = []``): replaying the rest would hang again until the
  time limit, on every check.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

CHECK_CALL = re.compile(r"^\s*(#|from checker[\w.]* import|import checker|(check|check_all|grade_cell)\()")
INTERRUPTED, FAILED, FINISHED = "interrupted", "failed", "finished"
KEPT_WHEN_INTERRUPTED = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
TRIMMED_NOTE = ("cell [{count}] was interrupted in this kernel ({first_line}): the check ran only its "
                "definitions (def, class, import, a name given a literal), if any; run it again to have all of it "
                "checked")

_INSTALLED = "_foundations_checker_record"


@dataclasses.dataclass(frozen=True)
class Run:
    """How one execution ended, by IPython's own record of it."""
    cell_id: str | None
    outcome: str  # finished | failed | interrupted


@dataclasses.dataclass(frozen=True)
class Replayed:
    """A cell to replay: its text, the kernel's execution number of its last run, and, when it was
    interrupted, the text it had (``source`` is then only its definitions, possibly none)."""
    source: str
    count: int = 0
    interrupted: str | None = None

    @property
    def trimmed(self) -> bool:
        return self.interrupted is not None


def install(shell) -> None:
    """Record how each cell run ends, from now on (once per kernel)."""
    if shell is None or getattr(shell, _INSTALLED, None) is not None:
        return
    record: dict[int, Run] = {}
    setattr(shell, _INSTALLED, record)

    def after(result) -> None:
        error = result.error_in_exec
        outcome = INTERRUPTED if isinstance(error, KeyboardInterrupt) else FAILED if error else FINISHED
        if result.execution_count is not None:
            record[result.execution_count] = Run(getattr(result.info, "cell_id", None), outcome)

    shell.events.register("post_run_cell", after)


def install_here() -> None:
    """``install`` into the running IPython, if any (called when ``checker`` is imported)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    install(get_ipython())


def _literal_assignment(node: ast.AST) -> bool:
    """``losses = []``, ``SCALE: float = 1.0``: a name given a literal, which a definition beside it may use and
    which costs nothing to run again."""
    value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
    if value is None:
        return False
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if not all(isinstance(t, ast.Name) for t in targets):
        return False
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def definitions(source: str, in_place: bool = False) -> str:
    """Only the top-level imports, functions, classes and names given a literal of ``source`` (empty if it does not
    parse); ``in_place``:
    each where it was, the other lines left empty (an error in them names the line the student sees)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    lines = source.splitlines(keepends=True)
    kept = []
    for node in tree.body:
        if isinstance(node, KEPT_WHEN_INTERRUPTED) or _literal_assignment(node):
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
            kept.append((start, node.end_lineno))
    if not in_place:
        return "".join("".join(lines[start:end]) for start, end in kept)
    keep = {i for start, end in kept for i in range(start, end)}
    return "".join(line if i in keep else "\n" for i, line in enumerate(lines))


def _not_for_grading(notebook: Path | None) -> tuple[set[str], set[str]]:
    """The ids and texts of the saved notebook's cells the checker does not run (tests, demos)."""
    from checker.submission import _is_skipped
    if notebook is None:
        return set(), set()
    try:
        data = json.loads(notebook.read_text(encoding="utf-8"))
        cells = [c for c in data.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]
    except (OSError, ValueError, AttributeError):
        return set(), set()
    ids, texts = set(), set()
    for cell in cells:
        if _is_skipped(cell):
            source = cell.get("source", "")
            texts.add(("".join(source) if isinstance(source, list) else str(source)).strip())
            if cell.get("id"):
                ids.add(cell["id"])
    return ids, texts


def replayed(history: list[str], record: dict[int, Run], notebook: Path | None) -> list[Replayed]:
    """The cells to replay from ``In`` (``history[n]`` ran as execution n), each at its last run."""
    skip_ids, skip_texts = _not_for_grading(notebook)
    seen: set[str] = set()
    chosen: list[Replayed] = []
    for count in range(len(history) - 1, 0, -1):  # In[0] is empty
        source = history[count]
        if not source or source in seen:
            continue
        seen.add(source)
        if all(CHECK_CALL.match(line) or not line.strip() for line in source.splitlines()):
            continue
        run = record.get(count)
        if (run and run.cell_id in skip_ids) or source.strip() in skip_texts:
            continue
        if run and run.outcome == INTERRUPTED:
            chosen.append(Replayed(definitions(source), count, interrupted=source))
            continue
        chosen.append(Replayed(source, count))
    return list(reversed(chosen))


def from_kernel(notebook: Path | None) -> list[Replayed] | None:
    """The cells to replay from the running kernel, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or "In" not in shell.user_ns:
        return None
    history = list(shell.user_ns["In"])[:-1]  # [-1] is the cell calling check()
    return replayed(history, getattr(shell, _INSTALLED, None) or {}, notebook)
