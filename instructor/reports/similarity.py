"""Which students' code is too alike to be independent: pairs and clusters, scored by what is rare in the class.

The engine is copydetect (winnowing over pygments tokens: names, strings and layout do not count, so renaming
variables or moving cells does not hide a copy). What it compares, and how a pair is scored, is decided here:

- **Only what students wrote.** Per exercise, the code of its solution cell, less the released starter code
  (the stub's signature and docstring are the same for everyone); per notebook, also every code cell a
  student added (a cell identical to one the kit released is the kit's, not hers). Written answers are
  graded by hand and are not compared.
- **Two rules, each about what independent students rarely do.**
  *The same answers throughout* (copying a notebook, renamed or not): for each exercise where the two hand in
  the same code token for token, ``log2(N / n)`` bits (``n`` of the ``N`` who answered it wrote that same
  code); listed when the bits reach ``log2(pairs) + SAME_MARGIN`` for the class's number of pairs, so that
  chance alone lists an independent pair about once in ``2 ** SAME_MARGIN`` classes.
  *One exercise shares a long, rare stretch* (copying one answer): each fragment (a fingerprint: ``K``
  characters of tokenised code) both wrote counts ``1 / (n - 1)`` for ``n`` students who wrote it (1 for the
  pair's alone; 0 past ``COMMON`` of the class: how the lesson writes it); listed at ``PART_BITS`` in one
  exercise. A one-liner is shorter than a fragment, and the whole class's ``return (x > 0) * x`` counts 0.
- Earlier terms' submissions (``reference``) are compared against and count in ``N`` and ``n``, but pairs
  among them are not reported.

:func:`compare` does the work; :mod:`instructor.reports.similarity_report` writes ``similarity.html``.
"""
from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
from collections import Counter
from pathlib import Path

from checker import course
from checker.registry import NOTEBOOKS, Exercise, entries
from checker.errors import SubmissionUnreadable
from checker.submission import notebook_code

K = 25  # characters of tokenised code in one fingerprint (copydetect's default noise threshold)
COMMON = 0.2  # a fragment written by more than this share of the class is how the lesson writes it: 0 bits
PART_BITS = 75.0  # one exercise (or her own cells): this many rare fragments shared there
SAME_MARGIN = 6.0  # bits above log2(pairs): chance lists an independent pair about once in 64 classes
SAME = "the same answers throughout"
ONE_PART = "one exercise shares a long, rare stretch"
OWN_CELLS = "(cells she added)"  # the pseudo-exercise of a student's own code cells
REFERENCE_EMPTY = ("the reference folder {folder} holds no student's notebooks (expected <student>/{assignment}/"
                   "NN_name.ipynb in it: give an earlier term's submitted/ folder)")
ENGINE_MISSING = ("the similarity report needs copydetect (pip install copydetect, or make install): {error}")


class EngineMissing(RuntimeError):
    """copydetect cannot be imported on this machine."""

    def __init__(self, error: Exception):
        self.error = error
        super().__init__(ENGINE_MISSING.format(error=error))


def engine():
    try:
        import copydetect.detector as detector
        import copydetect.utils as utils
    except ImportError as exc:  # a missing engine is said, not a crash
        raise EngineMissing(exc) from exc
    return detector, utils


@dataclasses.dataclass(frozen=True)
class Work:
    """One student's code for one part of a notebook (an exercise, or the cells she added)."""
    student: str
    notebook: str
    part: str
    source: str
    reference: bool = False  # an earlier term's: compared against, never reported among themselves


@dataclasses.dataclass
class Shared:
    part: str
    bits: float
    coverage: tuple  # (fraction of a's code, of b's) that is shared
    slices: tuple  # copydetect's copied slices in a's and b's source
    sources: tuple  # (a's, b's)


@dataclasses.dataclass
class Pair:
    a: str
    b: str
    notebook: str
    bits: float
    parts: list  # [Shared], the largest share first
    share: float = 0.0  # the shared bits over the smaller of the two notebooks' own bits
    surprise: float = 0.0  # bits: how unlikely the same answers are from two independent students
    same_answers: bool = False  # the surprise passed the notebook's bar

    @property
    def reason(self) -> str:
        """Which rule reported it."""
        return SAME if self.same_answers else ONE_PART


# --- what students wrote --------------------------------------------------------------------------------------

def starter_cells(release_dir: Path) -> dict[str, dict]:
    """Per notebook: the released code of each solution cell (by grade_id) and every released cell's source."""
    import nbformat

    found = {}
    for notebook in NOTEBOOKS:
        path = release_dir / f"{notebook}.ipynb"
        if not path.exists():
            continue
        nb = nbformat.read(str(path), as_version=4)
        stubs = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
        found[notebook] = {"stubs": stubs, "released": {c.source.strip() for c in nb.cells}}
    return found


def works_of(path: Path, student: str, notebook: str, starters: dict, reference: bool = False) -> list[Work]:
    """A submitted notebook's code: each exercise's solution cell and the code cells the student added."""
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # an unreadable notebook (autograde flags it) has nothing to compare
        return []
    try:
        notebook_code(nb, path)
    except SubmissionUnreadable:  # more code than the checker reads, say (autograde sets it aside, flagged)
        return []
    names = {e.name for e in entries(notebook) if isinstance(e, Exercise)}
    starter = starters.get(notebook, {"stubs": {}, "released": set()})
    works, own = [], []
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if meta.get("solution") and grade_id in names:
            if cell.source.strip() != starter["stubs"].get(grade_id, "").strip() and not still_a_stub(cell.source):
                works.append(Work(student, notebook, grade_id, cell.source, reference))
        elif not meta and cell.source.strip() not in starter["released"]:
            own.append(cell.source)
    if own:
        works.append(Work(student, notebook, OWN_CELLS, "\n\n".join(own), reference))
    return works


def still_a_stub(source: str) -> bool:
    """A cell whose every definition only raises NotImplementedError (or passes): not attempted, however the
    stub was retyped; there is nothing of hers to compare."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]

    def empty(stmt) -> bool:
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            return True
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
        return False

    return bool(defs) and all(all(empty(stmt) for stmt in d.body) for d in defs)


def class_works(root: Path, reference: Path | None = None) -> list[Work]:
    """Every student's work: the autograded copies (renamed notebooks already under their real names) where
    autograde has run, else the submissions; plus an earlier term's submitted folder as reference (its students
    named ``<term>/<student>``, the term being the folder's name, or its parent's for a ``submitted`` folder)."""
    starters = starter_cells(root / course.RELEASE_DIR / course.ASSIGNMENT)
    graded = root / course.AUTOGRADED_DIR
    this_term = graded if _students_in(graded) else root / course.SUBMITTED_DIR
    works = _works_in(this_term, starters, "", False)
    if reference is not None:
        reference = Path(reference)
        term = reference.parent.name if reference.name == course.SUBMITTED_DIR else reference.name
        works += _works_in(reference, starters, f"{term}/", True)
    return works


def _students_in(folder: Path) -> list[Path]:
    """The student folders that hold at least one of the course's notebooks."""
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.iterdir()) if p.is_dir() and
            any((p / course.ASSIGNMENT / f"{nb}.ipynb").exists() for nb in NOTEBOOKS)]


def _works_in(folder: Path, starters: dict, prefix: str, is_reference: bool) -> list[Work]:
    works = []
    for student_dir in _students_in(folder):
        for notebook in NOTEBOOKS:
            path = student_dir / course.ASSIGNMENT / f"{notebook}.ipynb"
            if path.exists():
                works += works_of(path, prefix + student_dir.name, notebook, starters, is_reference)
    return works


class ReferenceEmpty(ValueError):
    """A reference folder with no student's notebooks in it (given the course root, say, not its submitted/)."""

    def __init__(self, folder: Path):
        self.folder = folder
        super().__init__(REFERENCE_EMPTY.format(folder=folder, assignment=course.ASSIGNMENT))


# --- the comparison -------------------------------------------------------------------------------------------

def fingerprint(source: str, boilerplate=None):
    """copydetect's fingerprints of a source's tokens (names, strings, comments and layout erased)."""
    detector, _ = engine()
    return detector.CodeFingerprint("cell.py", K, 1, boilerplate=boilerplate, fp=io.StringIO(source),
                                    language="python")


def _rare_bits(prints: dict, n_class: int, own: Counter | None = None) -> Counter:
    """Per pair of students, the bits of the fragments both wrote (``log2((N + 1) / n)`` each, 0 for a fragment
    more than ``COMMON`` of the class wrote); ``own`` gets each student's bits of all her fragments."""
    index: dict[int, list[str]] = {}
    for student, fp in prints.items():
        for h in fp.hashes:
            index.setdefault(h, []).append(student)
    pairs = Counter()
    for who in index.values():
        if len(who) > max(2, COMMON * n_class):
            continue
        bits = 1.0 / (len(who) - 1) if len(who) > 1 else 1.0  # 1 for the pair's alone, 1/(n-1) for n writers
        if own is not None:
            for student in who:
                own[student] += bits
        for a, b in itertools.combinations(sorted(who), 2):
            pairs[(a, b)] += bits
    return pairs


def _same_answers(prints_of: dict, reference: set) -> tuple[dict, dict]:
    """Per pair and notebook, how unlikely it is that two independent students hand in the same answers (token
    for token) to the same exercises: ``log2(N / n)`` bits per exercise, ``n`` of the ``N`` who answered it
    having written that answer; and per notebook the bar, ``log2(pairs) + SAME_MARGIN`` bits (so that chance
    lists a pair of independent students about once in 2**SAME_MARGIN classes)."""
    surprise: Counter = Counter()
    pairs_in: Counter = Counter()
    for (notebook, part), prints in prints_of.items():
        answers: dict[str, list[str]] = {}
        for student, (_, fp) in prints.items():
            answers.setdefault(fp.filtered_code, []).append(student)
        for same in answers.values():
            bits = math.log2(len(prints) / len(same))
            if len(same) < 2 or bits < 1:  # half the class or more wrote it: no evidence
                continue
            for a, b in itertools.combinations(sorted(same), 2):
                if not (a in reference and b in reference):
                    surprise[(a, b, notebook)] += bits
    for notebook in {nb for nb, _ in prints_of}:
        students = {s for (nb, _), prints in prints_of.items() if nb == notebook for s in prints}
        pairs_in[notebook] = max(len(students) * (len(students) - 1) // 2, 1)
    return surprise, {nb: math.log2(n) + SAME_MARGIN for nb, n in pairs_in.items()}


def compare(works: list[Work], starters: dict | None = None, progress=None,
            report_all: bool = False) -> tuple[list[Pair], dict]:
    """The pairs a rule reports (most of a notebook the same, or one long rare stretch), the strongest first
    (``report_all``: every pair that shares anything); and figures about the comparison."""
    detector, _ = engine()
    starters = starters or {}
    by_part: dict[tuple, list[Work]] = {}
    for w in works:
        by_part.setdefault((w.notebook, w.part), []).append(w)
    reference = {w.student for w in works if w.reference}
    n_class = len({w.student for w in works})
    per_pair: dict[tuple, dict[str, float]] = {}  # (a, b, notebook) -> part -> the bits both wrote there
    own_bits: Counter = Counter()  # (student, notebook) -> her token bits there
    prints_of: dict[tuple, dict] = {}
    for number, ((notebook, part), group) in enumerate(sorted(by_part.items()), start=1):
        stub = starters.get(notebook, {}).get("stubs", {}).get(part)
        boilerplate = list(fingerprint(stub).hashes) if stub else None
        tokens = {w.student: fingerprint(w.source, boilerplate) for w in group}
        prints_of[(notebook, part)] = {w.student: (w, tokens[w.student]) for w in group}
        own = Counter()
        shared = _rare_bits(tokens, n_class, own)
        for student, bits in own.items():
            own_bits[(student, notebook)] += bits
        for (a, b), bits in shared.items():
            if a in reference and b in reference:
                continue
            per_pair.setdefault((a, b, notebook), {})[part] = bits
        if progress:
            progress(f"similarity: {number}/{len(by_part)} parts ({notebook} {part}, {len(group)} students)")
    surprise, bar = _same_answers(prints_of, reference)
    pairs = []
    for (a, b, nb), parts in per_pair.items():
        bits = sum(parts.values())
        share = bits / max(min(own_bits[(a, nb)], own_bits[(b, nb)]), 1e-9)
        chance = surprise.get((a, b, nb), 0.0)
        if not (report_all or max(parts.values()) >= PART_BITS or chance >= bar.get(nb, math.inf)):
            continue
        found = []
        for part, part_bits in sorted(parts.items(), key=lambda kv: -kv[1]):
            (wa, fa), (wb, fb) = prints_of[(nb, part)][a], prints_of[(nb, part)][b]
            _, coverage, slices = detector.compare_files(fa, fb)
            found.append(Shared(part, part_bits, tuple(float(c) for c in coverage), slices, (wa.source, wb.source)))
        pairs.append(Pair(a, b, nb, bits, found, min(share, 1.0), chance, chance >= bar.get(nb, math.inf)))
    pairs.sort(key=lambda p: (p.reason == ONE_PART, -p.surprise, -p.bits))
    figures = {"students": n_class, "reference": len(reference), "parts": len(by_part), "works": len(works),
               "pairs_sharing": len(per_pair), "reported": len(pairs), "bars": bar}
    return pairs, figures


def clusters(pairs: list[Pair]) -> list[set]:
    """Students linked by reported pairs (any notebook), the largest group first."""
    groups: list[set] = []
    for p in pairs:
        touching = [g for g in groups if p.a in g or p.b in g]
        merged = {p.a, p.b}.union(*touching)
        groups = [g for g in groups if g not in touching] + [merged]
    return sorted(groups, key=lambda g: (-len(g), sorted(g)))


def save(pairs: list[Pair], path: Path) -> Path:
    """The reported pairs as data (for the autograde summary and other tools)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"a": p.a, "b": p.b, "notebook": p.notebook, "reason": p.reason,
                                 "same_answers_bits": round(p.surprise, 1), "rare_fragments": round(p.bits, 1),
                                 "parts": [{"part": s.part, "bits": round(s.bits, 1),
                                            "coverage": [round(c, 3) for c in s.coverage]} for s in p.parts]}
                                for p in pairs], indent=1))
    return path
