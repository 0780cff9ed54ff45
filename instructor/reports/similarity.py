"""Which students' code is too alike to be independent: pairs and clusters, scored by what is rare in the class.

The engine is copydetect (winnowing over pygments tokens: names, strings and layout do not count, so renaming
variables or moving cells does not hide a copy). What it compares, and how a pair is scored, is decided here:

- **Only what students wrote.** Per exercise, the code of its solution cell, less the released starter code
  (the stub's signature and docstring are the same for everyone); per notebook, also every code cell a
  student added (a cell identical to one the kit released is the kit's, not hers). Written answers are
  graded by hand and are not compared.
- **Rare fragments count, common ones do not.** A fragment (a fingerprint: ``K`` characters of the
  tokenised code) that many students wrote is how the lesson writes it, not a copy: each shared fragment
  counts ``log2((N + 1) / n)`` bits, ``N`` the students compared and ``n`` those who wrote it. A fragment only
  the pair wrote counts most; ``return (x > 0) * x``, written by half the class, counts nearly nothing, and
  a one-liner is shorter than a fragment anyway. A fragment more than ``COMMON`` of the class wrote counts 0.
- **A pair** is reported when the bits it shares in one notebook reach ``PAIR_BITS``; each exercise's share
  is shown. Earlier terms' submissions (``reference``) are compared against and count in ``N`` and ``n``,
  but pairs among them are not reported.

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

K = 25  # characters of tokenised code in one fingerprint (copydetect's default noise threshold)
PAIR_BITS = 400.0  # the evidence a pair must share in one notebook to be reported
COMMON = 0.2  # a fragment written by more than this share of the class is how the lesson writes it: 0 bits
OWN_CELLS = "(cells she added)"  # the pseudo-exercise of a student's own code cells
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
    names = {e.name for e in entries(notebook) if isinstance(e, Exercise)}
    starter = starters.get(notebook, {"stubs": {}, "released": set()})
    works, own = [], []
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if meta.get("solution") and grade_id in names:
            if cell.source.strip() != starter["stubs"].get(grade_id, "").strip():
                works.append(Work(student, notebook, grade_id, cell.source, reference))
        elif not meta and cell.source.strip() not in starter["released"]:
            own.append(cell.source)
    if own:
        works.append(Work(student, notebook, OWN_CELLS, "\n\n".join(own), reference))
    return works


def class_works(root: Path, reference: Path | None = None) -> list[Work]:
    """Every student's work: the autograded copies (renamed notebooks already under their real names) where
    autograde has run, else the submissions; plus an earlier term's submitted folder as reference."""
    starters = starter_cells(root / course.RELEASE_DIR / course.ASSIGNMENT)
    works = []
    for folder, is_reference in ((root / course.AUTOGRADED_DIR, False), (root / course.SUBMITTED_DIR, False),
                                 (reference, True)):
        if folder is None or not Path(folder).is_dir():
            continue
        if not is_reference and works:
            break  # the autograded copies were found: the submissions are the same work
        for student_dir in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
            for notebook in NOTEBOOKS:
                path = student_dir / course.ASSIGNMENT / f"{notebook}.ipynb"
                if path.exists():
                    student = f"{Path(folder).name}/{student_dir.name}" if is_reference else student_dir.name
                    works += works_of(path, student, notebook, starters, is_reference)
    return works


# --- the comparison -------------------------------------------------------------------------------------------

def fingerprint(source: str, boilerplate=None):
    detector, _ = engine()
    return detector.CodeFingerprint("cell.py", K, 1, boilerplate=boilerplate, fp=io.StringIO(source),
                                    language="python")


def compare(works: list[Work], starters: dict | None = None, threshold: float = PAIR_BITS,
            progress=None) -> tuple[list[Pair], dict]:
    """The pairs whose shared, rare code in one notebook reaches ``threshold`` bits, the largest first; and
    figures about the comparison (students, fragments, pairs compared)."""
    detector, _ = engine()
    starters = starters or {}
    by_part: dict[tuple, list[Work]] = {}
    for w in works:
        by_part.setdefault((w.notebook, w.part), []).append(w)
    students = {w.student for w in works}
    n_class = len(students)
    totals: dict[tuple, float] = Counter()
    shares: dict[tuple, list[Shared]] = {}
    compared = 0
    for (notebook, part), group in sorted(by_part.items()):
        stub = starters.get(notebook, {}).get("stubs", {}).get(part)
        boilerplate = list(fingerprint(stub).hashes) if stub else None
        prints = {w.student: (w, fingerprint(w.source, boilerplate)) for w in group}
        index: dict[int, list[str]] = {}
        for student, (_, fp) in prints.items():
            for h in fp.hashes:
                index.setdefault(h, []).append(student)
        candidates = Counter()
        for h, who in index.items():
            if len(who) < 2 or len(who) > max(2, COMMON * n_class):
                continue
            bits = math.log2((n_class + 1) / len(who))
            for a, b in itertools.combinations(sorted(who), 2):
                candidates[(a, b)] += bits
        for (a, b), bits in candidates.items():
            wa, fa = prints[a]
            wb, fb = prints[b]
            if wa.reference and wb.reference:
                continue
            compared += 1
            _, coverage, slices = detector.compare_files(fa, fb)
            key = (a, b, notebook)
            totals[key] += bits
            shares.setdefault(key, []).append(Shared(part, bits, tuple(float(c) for c in coverage),
                                                     slices, (wa.source, wb.source)))
        if progress:
            progress(f"{notebook} {part}: {len(group)} students")
    pairs = [Pair(a, b, nb, bits, sorted(shares[(a, b, nb)], key=lambda s: -s.bits))
             for (a, b, nb), bits in totals.items() if bits >= threshold]
    pairs.sort(key=lambda p: -p.bits)
    figures = {"students": n_class, "parts": len(by_part), "works": len(works), "pairs_sharing": compared,
               "reported": len(pairs)}
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
    path.write_text(json.dumps([{"a": p.a, "b": p.b, "notebook": p.notebook, "bits": round(p.bits, 1),
                                 "parts": [{"part": s.part, "bits": round(s.bits, 1),
                                            "coverage": [round(c, 3) for c in s.coverage]} for s in p.parts]}
                                for p in pairs], indent=1))
    return path
