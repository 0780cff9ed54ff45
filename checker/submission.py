"""Reading a submission: a notebook or a Python file, as cells ready to run in order."""
from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

from checker.errors import CodeTooLarge, SubmissionUnreadable, UnknownNotebook
from checker.registry import NOTEBOOKS
from checker.source_evidence import UNPARSEABLE

SKIP_TAG = "demo"  # cells tagged so are lesson demonstrations: the checker does not run them
CELL_MARKER = re.compile(r"^# ?%%", re.MULTILINE)


@dataclasses.dataclass
class Cell:
    index: int
    source: str  # what runs: magics turned into calls on the stand-in get_ipython()
    original: str
    prompt: int | None = None  # the execution count the student's screen shows (In [50]), when known

    def label(self) -> str:
        """The cell as the student can find it: its prompt when known, and its first line."""
        first = next((line.strip() for line in self.original.splitlines() if line.strip()), "")[:50]
        shown = f" `{first}`" if first else ""
        return f"In [{self.prompt}]{shown}" if self.prompt is not None else f"the cell{shown}"

    def definitions(self, name: str) -> list[ast.AST]:
        """The top-level def or class statements of ``name`` in this cell (their line spans), none if unparseable."""
        try:
            tree = ast.parse(self.source)
        except UNPARSEABLE:
            return []
        return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and n.name == name]

    def defines(self) -> set[str]:
        try:
            tree = ast.parse(self.source)
        except UNPARSEABLE:
            return set(re.findall(r"^(?:def|class)\s+(\w+)", self.original, re.MULTILINE))
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
        return names


@dataclasses.dataclass
class Submission:
    path: Path
    notebook: str
    cells: list[Cell]
    notes: list[str] = dataclasses.field(default_factory=list)  # for the student, about what was read

    def cell_defining(self, name: str) -> Cell | None:
        found = None
        for cell in self.cells:
            if name in cell.defines():
                found = cell
        return found


def _transform(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with jupyter
        return "\n".join(("pass  # " + line) if line.lstrip()[:1] in ("%", "!") else line
                         for line in source.splitlines())
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - leave it to the child to report the syntax error
        return source


NESTED_TOO_DEEP = "its JSON is nested too deeply to read"
SOURCE_NOT_TEXT = "cell {index}'s source is not text (a list of strings)"
SOURCE_NOT_UTF8 = "cell {index} holds {char}, a lone surrogate, which is not text any file or kernel takes"
# What the checker reads of one notebook's code (the lesson's have 7 to 13 KB in 130 to 310 lines): parsing and
# reading more costs the grader's own memory and time, outside any jail (about 0.8 GB and 24 s a MB)
MAX_CODE_BYTES = 256 * 1024
MAX_CODE_LINES = 20_000
# functions and classes: the source reading follows what each passes on to the next, which costs the square of their
# number in a chain of them (the lesson's notebooks define 10 to 20; a chain of 1,400 held a grader for 274 s)
MAX_DEFINITIONS = 400
DEFINITION = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]", re.MULTILINE)
TOO_MANY_DEFINITIONS = ("its code defines {count:,} functions and classes ({cell} alone {cell_count:,}), more than the "
                        "checker reads: {limit:,} (the lesson's notebooks define about 15)")
CODE_TOO_LARGE = ("its code is {kib:,.0f} KiB in {lines:,} lines ({cell} alone has {cell_kib:,.0f} KiB in {cell_lines:,}), "
                  "more than the checker reads: {limit_kib} KiB or {limit_lines:,} lines (the lesson's notebooks have "
                  "about 15 KB)")


def code_size_problem(sources: list[tuple[int, str]]) -> str | None:
    """Why a notebook's code cells (index, source) are too large to judge, else None; the largest cell is named
    by its first line, as the student finds it."""
    sizes = [(len(text.encode("utf-8", "surrogatepass")), text.count("\n") + 1, index, text)
             for index, text in sources]  # surrogates: refused elsewhere
    size, lines = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
    if size <= MAX_CODE_BYTES and lines <= MAX_CODE_LINES:
        counts = [(len(DEFINITION.findall(text)), index, text) for index, text in sources]
        if sum(c[0] for c in counts) <= MAX_DEFINITIONS:
            return None
        cell_count, index, text = max(counts, key=lambda c: c[0])
        return TOO_MANY_DEFINITIONS.format(count=sum(c[0] for c in counts), cell=Cell(index, text, text).label(),
                                           cell_count=cell_count, limit=MAX_DEFINITIONS)
    cell_bytes, cell_lines, index, text = max(sizes, key=lambda s: s[1] if lines > MAX_CODE_LINES else s[0])
    return CODE_TOO_LARGE.format(kib=size / 1024, lines=lines, cell=Cell(index, text, text).label(),
                                 cell_kib=cell_bytes / 1024, cell_lines=cell_lines,
                                 limit_kib=MAX_CODE_BYTES // 1024, limit_lines=MAX_CODE_LINES)


def _is_skipped(cell: dict) -> bool:
    meta = cell.get("metadata", {})
    meta = meta if isinstance(meta, dict) else {}  # metadata that is not a mapping says nothing (an edited file)
    grading = meta.get("nbgrader", {})
    grading = grading if isinstance(grading, dict) else {}
    if grading.get("grade") and not grading.get("solution"):
        return True  # an nbgrader test cell: it calls the checker, the checker does not run it
    return SKIP_TAG in (meta.get("tags") or [])


def _notebook_cells(path: Path) -> list[tuple[str, int | None]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionUnreadable(path=str(path), reason=f"invalid JSON ({exc})") from None
    except RecursionError:
        raise SubmissionUnreadable(path=str(path), reason=NESTED_TOO_DEEP) from None
    return [(text, count) for _, text, count in notebook_code(data, path)]


def notebook_code(data, path: Path) -> list[tuple[int, str, int | None]]:
    """The code cells the checker runs, from a notebook's JSON: (cell index, source, execution count). Raises
    SubmissionUnreadable for a source that is not text, CodeTooLarge for more code than the checker reads."""
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise SubmissionUnreadable(path=str(path), reason="no list of cells in it")
    sources = []
    for index, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or _is_skipped(cell):
            continue
        source = cell.get("source", "")
        count = cell.get("execution_count")
        if isinstance(source, list) and not all(isinstance(line, str) for line in source) \
                or not isinstance(source, (list, str)):
            raise SubmissionUnreadable(path=str(path), reason=SOURCE_NOT_TEXT.format(index=index))
        text = "".join(source) if isinstance(source, list) else source
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800" in the JSON): no file nor kernel takes it
            raise SubmissionUnreadable(path=str(path), reason=SOURCE_NOT_UTF8.format(
                index=index, char=f"U+{ord(text[exc.start]):04X}")) from None
        sources.append((index, text, count if isinstance(count, int) and not isinstance(count, bool) else None))
    problem = code_size_problem([(index, text) for index, text, _ in sources])
    if problem:
        raise CodeTooLarge(path=str(path), reason=problem)
    return sources


def _python_cells(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionUnreadable(path=str(path), reason=f"not UTF-8 text ({exc})") from None
    problem = code_size_problem([(0, text)])
    if problem:
        raise CodeTooLarge(path=str(path), reason=problem)
    if CELL_MARKER.search(text):
        return [part for part in CELL_MARKER.split(text) if part.strip()]
    try:
        tree = ast.parse(text)
    except UNPARSEABLE:
        # One broken statement must not lose the rest: split before each top-level def/class.
        return [p for p in re.split(r"^(?=(?:def|class|@)\b)", text, flags=re.MULTILINE) if p.strip()]
    lines = text.splitlines(keepends=True)
    starts = [n.lineno - 1 if not getattr(n, "decorator_list", None) else n.decorator_list[0].lineno - 1
              for n in tree.body]
    bounds = starts[1:] + [len(lines)]
    return ["".join(lines[s:e]) for s, e in zip(starts, bounds)]


def notebook_of(path: Path, notebook: str | None) -> str:
    name = notebook or path.stem
    if name not in NOTEBOOKS:
        raise UnknownNotebook(path=str(path), known=", ".join(NOTEBOOKS))
    return name


def read_submission(path: str | Path, notebook: str | None = None) -> Submission:
    path = Path(path)
    if not path.is_file():
        raise SubmissionUnreadable(path=str(path), reason="no such file" if not path.exists() else "not a file")
    if path.suffix == ".ipynb":
        sources = _notebook_cells(path)
    elif path.suffix == ".py":
        sources = [(source, None) for source in _python_cells(path)]
    else:
        raise SubmissionUnreadable(path=str(path), reason="expected a .ipynb or .py file")
    name = notebook_of(path, notebook)
    cells = [Cell(i, _transform(src), src, count) for i, (src, count) in enumerate(sources)]
    return Submission(path, name, cells)
