"""A synthetic class of students, built from the released notebooks, for ``make demo`` and the tests.

It spans complete and partial work, slow algorithms, forbidden-op cheats, tampering, hung
and dying kernels, memory bombs, broken files, a missing and a renamed notebook. Each
student carries the verdicts the autograder must reach, so the tests can hold it to them.
"""
from __future__ import annotations

from checker import course as layout

import copy
import dataclasses
import functools
import json
import random
from pathlib import Path

import nbformat

from checker.registry import NOTEBOOKS, Exercise, entries
from instructor.authoring.wrong_answers import WRONG
from solutions.source import entry_sources

ANSWER_TEXT = "A short answer in my own words (to be graded by hand)."
PASSED, FAILED, ERROR, NOT_ATTEMPTED = "passed", "failed", "error", "not_attempted"


@dataclasses.dataclass
class Student:
    id: str
    kind: str
    replace: dict = dataclasses.field(default_factory=dict)  # (notebook, name) -> source; None = stub
    extra_cells: dict = dataclasses.field(default_factory=dict)  # notebook -> [code cells added after the setup]
    last_cells: dict = dataclasses.field(default_factory=dict)  # notebook -> [code cells added at the end; {course}]
    expected: dict = dataclasses.field(default_factory=dict)  # (notebook, exercise) -> (status, score)
    edit_test_cells: dict = dataclasses.field(default_factory=dict)  # (notebook, exercise) -> new source or None
    file_problem: dict = dataclasses.field(default_factory=dict)  # notebook -> "missing" | "invalid_json" | "renamed"
    flag: str = ""  # the flag grades.csv must carry ("" for none)
    swapped: dict = dataclasses.field(default_factory=dict)  # notebook -> [(a, b)]: exercises' cells moved past each other
    copied_from: dict = dataclasses.field(default_factory=dict)  # notebook -> the student she copied it from (planted)
    wrong_answers: list = dataclasses.field(default_factory=list)  # (notebook, exercise, id) of each wrong answer given


def exercises(notebook: str) -> list[Exercise]:
    return [e for e in entries(notebook) if isinstance(e, Exercise)]


def points(notebook: str, name: str) -> float:
    return next(e.points for e in exercises(notebook) if e.name == name)


def wrong(notebook: str, exercise: str, id: str):
    return next(w for w in WRONG if (w.notebook, w.exercise, w.id) == (notebook, exercise, id))


def add_wrong(student: Student, notebook: str, exercise: str, id: str, rng: random.Random | None = None) -> None:
    """The wrong answer ``id`` (in her own hand, given ``rng``: two students rarely make a mistake in the same
    words)."""
    w = wrong(notebook, exercise, id)
    for name, source in w.replace.items():
        student.replace[(notebook, name)] = in_her_own_hand(source, rng) if rng is not None else source
    score = w.score if w.score is not None else 0.0
    student.expected[(notebook, exercise)] = (w.status, score)
    student.wrong_answers.append((notebook, exercise, id))


def _tampered(student: Student, notebook: str) -> None:
    """Patching what the checker relies on, or reaching into its modules, is a verdict: the notebook earns nothing."""
    for e in exercises(notebook):
        student.expected[(notebook, e.name)] = (FAILED, 0.0)


def build_roster(seed: int = 0, complete: int = 10, partial: int = 10, size: int = 45) -> list[Student]:
    """Every hostile case once, ``complete`` and ``partial`` students, and typical mistakes up to ``size``."""
    rng = random.Random(seed)
    roster: list[Student] = []
    taken: set = set()  # the lesson variants some student already wrote

    def new(kind: str, **kw) -> Student:
        """A student of this kind, in her own hand wherever her kind does not say otherwise."""
        student = own_answers(Student(f"s{len(roster) + 1:02d}-{kind}", kind, **kw), rng, taken)
        roster.append(student)
        return student

    for _ in range(complete):
        new("complete")
    for _ in range(partial):  # typical partial work: the first k exercises of each notebook, the rest untouched
        s = new("partial")
        for notebook in NOTEBOOKS:
            names = [e.name for e in exercises(notebook)]
            k = rng.randint(0, len(names) - 1)
            for name in names[k:]:
                s.replace[(notebook, name)] = None
                s.expected[(notebook, name)] = (NOT_ATTEMPTED, 0.0)
    s = new("slow")
    add_wrong(s, "01_matmul", "matmul_broadcast", "loops-over-columns", rng)
    s = new("slow")
    add_wrong(s, "01_matmul", "matmul_elementwise", "three-loops", rng)
    add_wrong(s, "01_matmul", "pairwise_sq_dists", "loop-over-points", rng)
    s = new("forbidden-op")
    add_wrong(s, "01_matmul", "matmul_loops", "uses-matmul", rng)
    s = new("forbidden-op")
    add_wrong(s, "03_backprop", "forward_and_backward", "uses-autograd", rng)
    s = new("forbidden-op")
    add_wrong(s, "01_matmul", "matmul_broadcast", "numpy-matmul", rng)  # work outside torch, no trace sees it
    s = new("tamper-frames", extra_cells={"02_forward": [TAMPER_FRAMES]}, flag="tampering")
    _tampered(s, "02_forward")
    s = new("tamper-allclose", extra_cells={"01_matmul": [
        "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
        "torch.Tensor.__eq__ = lambda *a, **k: torch.tensor(True)"]}, flag="tampering")
    add_wrong(s, "01_matmul", "outer", "transposed", rng)
    _tampered(s, "01_matmul")
    s = new("tamper-clock", extra_cells={"01_matmul": ["import time\ntime.perf_counter = lambda: 0.0\n"
                                                       "time.perf_counter_ns = lambda: 0"]}, flag="tampering")
    add_wrong(s, "01_matmul", "matmul_broadcast", "loops-over-columns", rng)
    _tampered(s, "01_matmul")
    s = new("tamper-checker", extra_cells={"01_matmul": [
        "import checker.compare, checker.grading\nchecker.compare.difference = lambda *a, **k: None\n"
        "checker.grading.evaluate = lambda *a, **k: None"]}, flag="tampering")
    add_wrong(s, "01_matmul", "frobenius_norm", "forgot-sqrt", rng)
    _tampered(s, "01_matmul")
    s = new("tamper-test-cell", edit_test_cells={("01_matmul", "matmul_loops"): "pass  # all good, trust me"})
    add_wrong(s, "01_matmul", "matmul_loops", "never-raises", rng)
    s = new("deleted-test-cell", edit_test_cells={("01_matmul", "outer"): None})
    add_wrong(s, "01_matmul", "outer", "transposed", rng)
    new("hung-kernel", extra_cells={"02_forward": ["while True:\n    pass"]}, flag="kernel")
    s = new("infinite-loop")
    s.replace[("01_matmul", "outer")] = "def outer(u, v):\n    while True:\n        pass"
    s.expected[("01_matmul", "outer")] = (ERROR, 0.0)
    new("dead-kernel", extra_cells={"03_backprop": ["import os\nos._exit(1)"]}, flag="kernel")
    s = new("memory-bomb")
    s.replace[("02_forward", "kaiming_init")] = (
        "def kaiming_init(n_in, n_out):\n    hoard = []\n    while True:\n"
        "        hoard.append(torch.ones(10**8))")
    s.expected[("02_forward", "kaiming_init")] = (ERROR, 0.0)
    # untouched stubs: the import of the solutions earns nothing (refused in her kernel by the jail); editing
    # sys.path is code the checker cannot read, so her notebook is flagged before any check runs
    s = new("jailbreak", last_cells={"01_matmul": [JAILBREAK]}, flag="tampering")
    for e in exercises("01_matmul"):
        s.replace[("01_matmul", e.name)] = None
    _tampered(s, "01_matmul")
    s = new("invalid-json", file_problem={"03_backprop": "invalid_json"}, flag="invalid_json")
    for e in exercises("03_backprop"):
        s.expected[("03_backprop", e.name)] = (NOT_ATTEMPTED, 0.0)
    s = new("missing-notebook", file_problem={"02_forward": "missing"}, flag="missing")
    for e in exercises("02_forward"):
        s.expected[("02_forward", e.name)] = (NOT_ATTEMPTED, 0.0)
    new("renamed-notebook", file_problem={"04_modules": "renamed"}, flag="renamed")
    plant_copies(roster, new, rng)
    used_by_others = {"mse_grad", "lin_grad", "relu_grad", "Lin", "Relu", "Mse", "Module"}
    # no two students make the same long mistake in the same code (the similarity report would rightly list them)
    given = {answer for s in roster for answer in s.wrong_answers}
    typical = [w for w in WRONG if set(w.replace) == {w.exercise} and w.exercise not in used_by_others
               and w.score is not None]  # a score the catalogue does not fix (a speed bar's) is no expectation
    while len(roster) < size:
        s = new("typical-mistakes")
        for w in rng.sample([w for w in typical if (w.notebook, w.exercise, w.id) not in given], 3):
            if (w.notebook, w.exercise) not in s.expected:
                add_wrong(s, w.notebook, w.exercise, w.id, rng)
                given.add((w.notebook, w.exercise, w.id))
    for s in roster:  # everything not listed is right
        for notebook in NOTEBOOKS:
            for e in exercises(notebook):
                s.expected.setdefault((notebook, e.name), (PASSED, e.points))
    return roster


@functools.lru_cache(maxsize=None)
def honest_answers(notebook: str, exercise: str) -> tuple[str, ...]:
    """The right answers an independent student may write for an exercise: the reference and every lesson
    variant that stands alone and passes. Exercises timed against a bar keep the reference (the class is
    graded two lanes at a time: no answer whose margin the bench has not measured)."""
    from instructor.authoring.lesson_variants import VARIANTS

    entry = next(e for e in exercises(notebook) if e.name == exercise)
    answers = (entry_sources(notebook)[exercise],)
    if any(type(c).__name__ == "SpeedBar" for c in entry.checks):
        return answers
    return answers + tuple(v.source for v in VARIANTS if (v.notebook, v.exercise) == (notebook, exercise)
                           and not v.conflict and not v.replace)


def own_answers(student: Student, rng: random.Random, taken: set | None = None) -> Student:
    """An honest student's own way through the notebooks: one right answer per exercise, chosen at random, in
    her own hand (:func:`in_her_own_hand`). A lesson variant another student of the class already wrote (``taken``)
    gives way to the reference: two independent students rarely write the same long, rare answer, and the
    similarity report would rightly list the pair (the reference, which many write, is no rare stretch)."""
    for notebook in NOTEBOOKS:
        for e in exercises(notebook):
            answers = honest_answers(notebook, e.name)
            at = rng.randrange(len(answers))
            if taken is not None and at and (notebook, e.name, at) in taken:
                at = 0
            elif taken is not None and at:
                taken.add((notebook, e.name, at))
            student.replace[(notebook, e.name)] = in_her_own_hand(answers[at], rng)
    return student


# what independent students write differently though they follow the same lesson (each changes the tokens a
# similarity engine compares, never what the code computes or which ops it calls)
METHOD_OR_FUNCTION = frozenset({"sum", "mean", "exp", "log", "sqrt", "clamp_min", "unsqueeze"})
DIM_FIRST = frozenset({"sum", "mean", "unsqueeze", "softmax", "log_softmax", "argmax", "max", "cumsum"})


# how students word a shape error in their own hand (the checks judge that it is raised, not its words)
OWN_ERROR_WORDS = ("shapes do not fit", "inner dimensions differ", "size mismatch", "cannot multiply these",
                   "incompatible shapes", "bad input shapes", "the sizes must agree")


def in_her_own_hand(source: str, rng: random.Random) -> str:
    """The same answer as another student would write it: her own names for arguments and locals, the factors
    of a product in her order, ``x.sum(0)`` or ``torch.sum(x, 0)`` or ``x.sum(dim=0)``, a result named before it
    is returned, or not, and her own words (or none) for an error."""
    import ast

    tree = ast.parse(source)
    names = sorted({n.arg for n in ast.walk(tree) if isinstance(n, ast.arg) and n.arg != "self"}
                   | {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)})
    style = rng.choice(("", "my_", "the_", "in_", "t_", "a_")) + "{}" + rng.choice(("", "_", "0", "1", "_v", "_t"))
    style = style if style != "{}" else "{}_"
    renamed = {n: style.format(n) for n in names}
    own = set(renamed.values()) | {"self"}  # what holds her tensors: her arguments, locals and attributes

    def _root(node):
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    class Hand(ast.NodeTransformer):
        def visit_Name(self, node):
            node.id = renamed.get(node.id, node.id)
            return node

        def visit_arg(self, node):
            node.arg = renamed.get(node.arg, node.arg)
            return node

        def visit_BinOp(self, node):
            self.generic_visit(node)
            if isinstance(node.op, ast.Mult) and rng.random() < 0.5:
                node.left, node.right = node.right, node.left
            return node

        def visit_Call(self, node):
            self.generic_visit(node)
            func = node.func
            if not isinstance(func, ast.Attribute) or _root(func.value) not in own:  # math.sqrt is not a tensor's
                return node
            if func.attr in DIM_FIRST and len(node.args) == 1 and \
                    not node.keywords and rng.random() < 0.4:
                node.keywords, node.args = [ast.keyword("dim", node.args[0])], []
            elif func.attr in METHOD_OR_FUNCTION and rng.random() < 0.4:
                return ast.Call(ast.Attribute(ast.Name("torch", ast.Load()), func.attr, ast.Load()),
                                [func.value, *node.args], node.keywords)
            return node

        def visit_Raise(self, node):  # her own words for an error (a message, or none), not the variant's
            self.generic_visit(node)
            if isinstance(node.exc, ast.Call) and node.exc.args and \
                    isinstance(node.exc.args[0], (ast.Constant, ast.JoinedStr)):
                node.exc.args[0:1] = [ast.Constant(rng.choice(OWN_ERROR_WORDS))][:rng.randrange(4) > 0]
            return node

        def visit_Assert(self, node):
            self.generic_visit(node)
            if node.msg is not None:
                node.msg = ast.Constant(rng.choice(OWN_ERROR_WORDS)) if rng.randrange(4) else None
            return node

        def visit_FunctionDef(self, node):
            self.generic_visit(node)
            last = node.body[-1]
            if isinstance(last, ast.Return) and last.value is not None and \
                    not isinstance(last.value, ast.Name) and rng.random() < 0.5:
                result = style.format("result")
                node.body[-1:] = [ast.Assign([ast.Name(result, ast.Store())], last.value),
                                  ast.Return(ast.Name(result, ast.Load()))]
            return node

    return ast.unparse(ast.fix_missing_locations(Hand().visit(tree))) + "\n"


def canvas_roster(roster: list[Student], left_off: int = 1, newcomers: int = 1) -> str:
    """The class as Canvas's gradebook export lists it (for ``make demo``'s LMS export): the last ``left_off``
    students are not on it (they joined late in the LMS) and ``newcomers`` are on it with no submission."""
    rows = ["Student,ID,SIS User ID,SIS Login ID,Section", "    Points Possible,,,,"]
    on = roster[:len(roster) - left_off]
    rows += [f"\"Student {i:02d}, {s.kind}\",{1000 + i},S{1000 + i},{s.id},A" for i, s in enumerate(on, 1)]
    rows += [f"\"Newcomer, {i}\",{2000 + i},S{2000 + i},newcomer{i},A" for i in range(1, newcomers + 1)]
    return "\n".join(rows) + "\n"


def earlier_term(size: int = 100, seed: int = 1) -> list[Student]:
    """An earlier term's honest students, for the similarity report's reference folder: what the lesson's usual
    answers look like across many students (a fragment they all wrote is common, not copied)."""
    rng = random.Random(seed)
    return [own_answers(Student(f"t{i:03d}", "earlier-term"), rng) for i in range(1, size + 1)]


# A right answer nobody else in the sample class writes: the source of the planted partial copy.
OWN_MATMUL_LOOPS = '''def matmul_loops(a, b):
    rows, inner = a.shape
    inner_b, cols = b.shape
    assert inner == inner_b, f"inner sizes differ: {inner} and {inner_b}"
    result = torch.zeros(rows, cols)
    i = 0
    while i < rows:
        j = 0
        while j < cols:
            total = 0.0
            step = 0
            while step < inner:
                total = total + a[i, step] * b[step, j]
                step += 1
            result[i, j] = total
            j += 1
        i += 1
    return result
'''

COPY_KINDS = ("copy-verbatim", "copy-renamed", "copy-partial")


def plant_copies(roster: list[Student], new, rng: random.Random) -> None:
    """Three students who copy (``make demo``'s similarity report must find each, and nobody else): one hands
    in another's 02_forward as it is, one renames every variable of another's 03_backprop and moves two of its
    exercises, one copies a single long exercise of 01_matmul; each writes the rest herself."""
    complete = [s for s in roster if s.kind == "complete"]
    verbatim_from, renamed_from, partial_from = (complete[i % len(complete)] for i in range(3))
    partial_from.replace[("01_matmul", "matmul_loops")] = OWN_MATMUL_LOOPS
    verbatim = new("copy-verbatim")
    _copy_notebook(verbatim, verbatim_from, "02_forward")
    renamed = new("copy-renamed")
    _copy_notebook(renamed, renamed_from, "03_backprop", rename=True)
    renamed.swapped["03_backprop"] = [("mse_grad", "relu_grad")]
    partial = new("copy-partial")
    partial.replace[("01_matmul", "matmul_loops")] = OWN_MATMUL_LOOPS
    partial.copied_from["01_matmul"] = partial_from.id


def _copy_notebook(student: Student, source: Student, notebook: str, rename: bool = False) -> None:
    for e in exercises(notebook):
        answer = source.replace.get((notebook, e.name), entry_sources(notebook)[e.name])
        if answer is None:  # she copies the stub too: not attempted, as for her source
            student.replace[(notebook, e.name)] = None
            student.expected[(notebook, e.name)] = source.expected[(notebook, e.name)]
            continue
        student.replace[(notebook, e.name)] = renamed_locals(answer) if rename else answer
    student.copied_from[notebook] = source.id


def renamed_locals(source: str) -> str:
    """The same code with every argument and local variable renamed (what a copier does to hide a copy)."""
    import ast
    import re

    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.arg != "self":
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    new = {n: f"{n}_{i}x" for i, n in enumerate(sorted(names))}
    return re.sub(r"(?<![.\w])[A-Za-z_]\w*", lambda m: new.get(m.group(0), m.group(0)), source)


# A cell that asks for the checker's frames in a spelling no reading of the source resolves: the tripwire in the
# checker's process refuses it as it runs (her kernel, which has none, runs it without harm).
TAMPER_FRAMES = ("import builtins\ntry:\n    _f = getattr(builtins.__import__('sys'), '_get' + 'frame')(0)\n"
                 "except Exception:\n    pass")


# The last cell of a student who leaves 01_matmul's stubs untouched and tries to take the reference
# answers instead, and to rewrite the judge on her way ({course} is the course root, as she may know it).
JAILBREAK = """import os, sys, site
for target in ["{course}/nbgrader_config.py", "{course}/jailbreak.txt", os.path.expanduser("~/jailbreak.txt"),
               "/var/tmp/jailbreak.txt", site.getsitepackages()[0] + "/sitecustomize.py",
               os.path.dirname(__import__("checker").__file__) + "/jailbreak.py"]:
    try:
        with open(target, "a") as f:
            f.write("\\n# jailbreak\\n")
    except OSError as exc:
        print("refused:", exc)
sys.path[:0] = ["{course}", "../../.."]
try:
    from solutions.matmul import *
except Exception as exc:
    print("refused:", exc)
"""
JAILBREAK_TARGETS = ("nbgrader_config.py", "jailbreak.txt")  # in the course root: must stay as they were


CI_ROSTER = dict(complete=1, partial=2, size=20)  # every hostile case, fewer of the ordinary ones
# The kinds a test of where grades are stored or graded (PostgreSQL, a cluster) needs: full, partial and zero
# scores, a tampering kernel, a dead kernel, and a notebook that cannot be read and one that is not there (the
# other hostile kinds, a renamed notebook among them, take the same paths and are the CI class's tests: each
# student here costs a whole submission's grading twice in CI)
SCALE_KINDS = ("complete", "partial", "tamper-checker", "dead-kernel", "invalid-json", "missing-notebook")


def scale_roster() -> list[Student]:
    """The first student of each of those kinds in the CI class (the kernel's confinement and time limits,
    and a second student of a kind, are the local run's tests)."""
    first: dict[str, Student] = {}
    for s in build_roster(**CI_ROSTER):
        if s.kind in SCALE_KINDS:
            first.setdefault(s.kind, s)
    return list(first.values())


def expected_total(student: Student) -> float:
    return sum(score for _, score in student.expected.values())


def fill(release_nb, notebook: str, student: Student, course: Path = Path(".")):
    """The release notebook as this student hands it in."""
    nb = copy.deepcopy(release_nb)
    sources = entry_sources(notebook)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id", "")
        if meta.get("solution") and cell.cell_type == "code" and grade_id in sources:
            choice = student.replace.get((notebook, grade_id), sources[grade_id])
            if choice is not None:  # None: the released stub, as she found it
                cell.source = choice
        elif meta.get("solution") and cell.cell_type == "markdown":
            cell.source = ANSWER_TEXT
        elif meta.get("grade") and layout.exercise_of_test_cell(grade_id):
            key = (notebook, layout.exercise_of_test_cell(grade_id))
            if key in student.edit_test_cells:
                if student.edit_test_cells[key] is None:
                    continue  # deleted
                cell.source = student.edit_test_cells[key]
        cells.append(cell)
    for a, b in student.swapped.get(notebook, []):
        cells = _swap_exercises(cells, a, b)
    extra = [nbformat.v4.new_code_cell(src) for src in student.extra_cells.get(notebook, [])]
    setup = next((i for i, c in enumerate(cells) if c.cell_type == "code"), 0)
    last = [nbformat.v4.new_code_cell(src.replace("{course}", str(course))) for src in
            student.last_cells.get(notebook, [])]
    nb.cells = cells[: setup + 1] + extra + cells[setup + 1:] + last
    return nb


def _swap_exercises(cells: list, a: str, b: str) -> list:
    """The cells with exercise ``a``'s block (its solution cell up to the next solution cell) and ``b``'s
    exchanged, as a student who moves cells around leaves them."""
    starts = [i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("solution")
              and c.cell_type == "code"]
    bounds = {cells[i].metadata["nbgrader"]["grade_id"]: (i, (starts + [len(cells)])[k + 1])
              for k, i in enumerate(starts)}
    (a0, a1), (b0, b1) = sorted((bounds[a], bounds[b]))
    return cells[:a0] + cells[b0:b1] + cells[a1:b0] + cells[a0:a1] + cells[b1:]


def write_class(release_dir: Path, submitted_dir: Path, roster: list[Student]) -> None:
    """nbgrader's submitted layout: submitted/<student>/foundations/<notebook>.ipynb."""
    release = {nb: nbformat.read(str(release_dir / f"{nb}.ipynb"), as_version=4) for nb in NOTEBOOKS}
    for student in roster:
        folder = submitted_dir / student.id / layout.ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")
        for notebook in NOTEBOOKS:
            problem = student.file_problem.get(notebook)
            if problem == "missing":
                continue
            text = nbformat.writes(fill(release[notebook], notebook, student, submitted_dir.resolve().parent))
            if problem == "invalid_json":
                text = text[: len(text) // 2]  # a truncated save
            name = f"{notebook}-Copy1.ipynb" if problem == "renamed" else f"{notebook}.ipynb"
            (folder / name).write_text(text)


def roster_table(roster: list[Student]) -> list[dict]:
    return [{"student": s.id, "kind": s.kind, "expected": expected_total(s), "flag": s.flag} for s in roster]


if __name__ == "__main__":  # print the roster and the expected totals
    for row in roster_table(build_roster()):
        print(json.dumps(row))
