"""What the class got wrong: the checker's verdicts in the autograded notebooks, sorted into kinds of mistake.

``CheckerVerdicts`` (instructor/grading/verdicts.py) leaves in every graded test cell of
``autograde/<student>/foundations/<notebook>.ipynb`` the verdict as data (its metadata: status, score,
and each feedback line with the name of the message it is) beside the text the student reads. Each
feedback line of an exercise that did not pass gets the label of its message's mistake ("loop left
in", "wrong axis", ...), declared with the message itself (``checker.messages.mistake``: a new hint
brings its own). A line without that data (a notebook graded by an older kit) is matched against the
message templates instead (each ``str.format`` template becomes a regex); a line nothing names is
"other". A student counts once per kind per exercise. ``instructor/reports/mistakes_report.py`` turns the
result into the summary's lines and the HTML page ``mistakes.html``.
"""
from __future__ import annotations

from checker import course

import collections
import dataclasses
import json
import re
import statistics
from pathlib import Path

from checker import errors
from checker import messages as msg
from checker.registry import NOTEBOOKS, Exercise, entries

ASSIGNMENT = course.ASSIGNMENT
TEST_PREFIX = course.TEST_PREFIX
VERDICT_KEY = course.VERDICT_KEY
HIDDEN_PREFIX = msg.HIDDEN_CHECK_PREFIX
STATUSES = tuple(msg.STATUS_TEXT.values())  # as the text of a verdict shows them
# The header verdict_outputs() writes: f"{name}: {status} ({score:g}/{max_score:g})"
HEADER = re.compile(r"(?P<name>\S+): (?P<status>" + "|".join(STATUSES) + r") \((?P<score>[^/()]+)/(?P<max>[^/()]+)\)")
PASSED = "passed"
OTHER = "other"
NOT_ATTEMPTED = "not attempted"
MAX_LINE = 5000  # longer feedback lines (never written by the checker) are "other" unmatched
LOADING_LIMIT = "not run: the time limit for loading was reached"  # checker/sandbox/runner.py

# Errors of the checker's process that are no message of checker.messages, and the kind each names.
NOT_MESSAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("time limit", (errors.PROBE_TIMEOUT, LOADING_LIMIT)),
    ("crashed the checker's process", (errors.CHILD_DIED, errors.PROTOCOL_BROKEN)),
)


def _kinds() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """label -> the templates whose lines it names: each message declared with its mistake
    (``checker.messages.mistake``), and the errors above. Several templates may share a label."""
    kinds = {label: list(templates) for label, templates in msg.mistakes().items()}
    for label, templates in NOT_MESSAGES:
        kinds.setdefault(label, []).extend(templates)
    return tuple((label, tuple(templates)) for label, templates in kinds.items())


KINDS = _kinds()
# Lines that carry another message in their last field: classified by it, else by this label.
WRAPPERS: tuple[tuple[str, str], ...] = (
    ("wrong on fresh inputs", msg.FRESH_INPUT_WRONG),
    ("wrong while being timed", msg.SPEED_WRONG_ANSWERS),
    ("its cell could not run", msg.DEFINING_CELL_STOPPED),
)
# Notes and passing lines: no mistake, not "other" either.
IGNORED = (msg.SAME_ERROR_AGAIN, msg.PARTIAL_CREDIT, msg.DTYPE_NARROWED, msg.DTYPE_WIDENED, msg.MANUAL_QUESTION,
           msg.CASES_PASSED, msg.GRADS_PASSED, msg.STAT_PASSED, msg.SPEED_PASSED, msg.FIT_PASSED)


def template_regex(template: str) -> re.Pattern:
    """A ``str.format`` template as a regex for ``match``: any text before it (a prefix such as "w.g "),
    each {field} a lazy group, the text after the last field anchored at the end. Every group but the
    last is atomic (the earliest occurrence of the text that follows it), so even a hostile line costs
    linear time: if any match exists, the earliest one does."""
    parts = re.split(r"\{[^{}]*\}", template)
    if len(parts) == 1:
        return re.compile(".*?" + re.escape(parts[0]) + r"\Z", re.DOTALL)
    body = f"(?>.*?{re.escape(parts[0])})"
    for i, part in enumerate(parts[1:], 1):
        group = f"(.*?){re.escape(part)}"
        body += group if i == len(parts) - 1 else f"(?>{group})"
    return re.compile(body + r"\Z", re.DOTALL)


def _literal(template: str) -> int:
    return len("".join(re.split(r"\{[^{}]*\}", template)))


# Most specific first: the template with the most fixed text wins.
_RULES = sorted([(label, template_regex(t), False, _literal(t)) for label, ts in KINDS for t in ts]
                + [(None, template_regex(t), False, _literal(t)) for t in IGNORED]
                + [(label, template_regex(t), True, _literal(t)) for label, t in WRAPPERS],
                key=lambda rule: -rule[3])


def _by_kind() -> tuple[dict[str, str], set[str], dict[str, str]]:
    """message kind -> label; the kinds that are no mistake; the wrappers' kinds -> their own label."""
    labels = {msg.kind_of(t): label for label, ts in KINDS for t in ts if msg.kind_of(t)}
    ignored = {msg.kind_of(t) for t in IGNORED if msg.kind_of(t)}
    wrappers = {msg.kind_of(t): label for label, t in WRAPPERS if msg.kind_of(t)}
    return labels, ignored, wrappers


LABEL_OF_KIND, IGNORED_KINDS, WRAPPER_KINDS = _by_kind()


def classify(line: str) -> str | None:
    """The label of one feedback line; None for a note that is no mistake; OTHER when nothing is known of it.
    A line that knows its message (checker.messages.Feedback, as the verdicts' metadata keeps it) is labelled
    by its kind; only a line without one (a notebook graded before kinds were kept) is matched by its text."""
    kind = msg.kind_of(line)
    if kind is not None:
        if kind in WRAPPER_KINDS:
            inner = msg.inner_of(line)
            return LABEL_OF_KIND.get(inner, WRAPPER_KINDS[kind]) if inner not in IGNORED_KINDS else WRAPPER_KINDS[kind]
        if kind in IGNORED_KINDS:
            return None
        return LABEL_OF_KIND.get(kind, OTHER)
    line = line[len(HIDDEN_PREFIX):] if line.startswith(HIDDEN_PREFIX) else line
    if len(line) > MAX_LINE:
        return OTHER
    for label, pattern, wrapper, _ in _RULES:
        found = pattern.match(line)
        if found and wrapper:
            inner = classify(found.groups()[-1]) if found.groups() else None
            return inner if inner not in (None, OTHER) else label
        if found:
            return label
    return OTHER


def classify_lines(lines: list[str]) -> list[tuple[str | None, str]]:
    """(label, line) per feedback line; a line that only continues the one before (a message with a
    newline in it, such as a student's exception text) joins it when the joined text still matches."""
    out: list[tuple[str | None, str]] = []
    for line in lines:
        label = classify(line)
        before, text = out[-1] if out else (None, "")
        if label == OTHER and before not in (None, OTHER) and classify(f"{text}\n{line}") == before:
            out[-1] = (before, f"{text}\n{line}")
            continue
        out.append((label, line))
    return out


@dataclasses.dataclass
class Verdict:
    """One graded test cell of one student's autograded notebook."""
    student: str
    notebook: str
    exercise: str
    status: str
    score: float
    max_score: float
    feedback: list[str]


def exercise_label(notebook: str, exercise: str) -> str:
    """"03_backprop/Relu": several notebooks have an exercise of the same name."""
    return f"{notebook}/{exercise}"


def short_label(notebook: str, exercise: str) -> str:
    """"03 Relu", for the chart."""
    return f"{notebook.split('_')[0]} {exercise}"


def cell_verdict(cell: dict) -> tuple[str, float, float, list[str]] | None:
    """(status, score, max, feedback) from a test cell's outputs, or None without a checker verdict: the verdict
    the checker left as data in the output's metadata; the text only in a notebook graded before it did."""
    for output in cell.get("outputs", []):
        if output.get("output_type") != "display_data":
            continue
        data = (output.get("metadata") or {}).get(course.METADATA_KEY, {}).get(VERDICT_KEY)
        if isinstance(data, dict):
            try:
                feedback = [msg.from_data(item) for item in data.get("feedback", []) if isinstance(item, dict)]
                return str(data["status"]), float(data["score"]), float(data["max_score"]), feedback
            except (KeyError, TypeError, ValueError):
                return None
        text = output.get("data", {}).get("text/plain")
        text = "".join(text) if isinstance(text, list) else text
        if not text:
            continue
        header, *feedback = text.split("\n")
        found = HEADER.fullmatch(header)
        if found:
            try:
                status = {shown: raw for raw, shown in msg.STATUS_TEXT.items()}.get(found["status"], found["status"])
                return status, float(found["score"]), float(found["max"]), feedback
            except ValueError:
                return None
    return None


def read_notebook(path: Path, student: str, notebook: str) -> list[Verdict]:
    """The verdicts in one autograded notebook (nothing if it cannot be read)."""
    try:
        cells = json.loads(path.read_text()).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    verdicts = []
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        grade_id = str(meta.get("grade_id", ""))
        if cell.get("cell_type") != "code" or not meta.get("grade") or not grade_id.startswith(TEST_PREFIX):
            continue
        found = cell_verdict(cell)
        if found:
            verdicts.append(Verdict(student, notebook, grade_id[len(TEST_PREFIX):], *found))
    return verdicts


def read_class(autograde: Path) -> tuple[list[Verdict], dict[str, list[str]]]:
    """Every verdict under autograde/<student>/foundations/, and per notebook the students without it."""
    verdicts, missing = [], {nb: [] for nb in NOTEBOOKS}
    for folder in sorted(p for p in autograde.glob(f"*/{ASSIGNMENT}") if p.is_dir()):
        for notebook in NOTEBOOKS:
            path = folder / f"{notebook}.ipynb"
            if path.exists():
                verdicts += read_notebook(path, folder.parent.name, notebook)
            else:
                missing[notebook].append(folder.parent.name)
    return verdicts, missing


@dataclasses.dataclass
class Mistakes:
    """The class's mistakes: per exercise (notebook, name), per kind, the students who made it."""
    verdicts: list[Verdict]
    missing: dict[str, list[str]]
    kinds: dict[tuple[str, str], dict[str, set[str]]]
    examples: dict[tuple[str, str, str], str]  # (notebook, exercise, kind) -> a feedback line showing it
    other: list[tuple[str, str, str, str]]  # (student, notebook, exercise, line)

    @property
    def students(self) -> list[str]:
        return sorted({v.student for v in self.verdicts} | {s for names in self.missing.values() for s in names})

    def pairs(self, skip=(NOT_ATTEMPTED,)) -> list[tuple[str, str, str, int]]:
        """(notebook, exercise, kind, students), most frequent first."""
        rows = [(nb, ex, kind, len(who)) for (nb, ex), found in self.kinds.items() for kind, who in found.items()
                if kind not in skip]
        return sorted(rows, key=lambda r: (-r[3], NOTEBOOKS.index(r[0]) if r[0] in NOTEBOOKS else 99, r[1], r[2]))

    def top(self, n: int = 5, skip=(NOT_ATTEMPTED,)) -> list[tuple[str, int, list[tuple[str, int]]]]:
        """(kind, count, [(exercise label, students)]) for the ``n`` most frequent kinds; count sums the
        students over the exercises."""
        per_kind: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)
        for nb, ex, kind, count in self.pairs(skip):
            per_kind[kind].append((exercise_label(nb, ex), count))
        ranked = sorted(per_kind.items(), key=lambda kv: (-sum(c for _, c in kv[1]), kv[0]))
        return [(kind, sum(c for _, c in found), found) for kind, found in ranked[:n]]

    def count(self, kind: str) -> int:
        return sum(len(found.get(kind, ())) for found in self.kinds.values())


def analyse(verdicts: list[Verdict], missing: dict[str, list[str]] | None = None) -> Mistakes:
    """Classify the feedback of every verdict that is not a pass."""
    kinds: dict[tuple[str, str], dict[str, set[str]]] = {}
    examples, other = {}, []
    for v in verdicts:
        if v.status == PASSED:
            continue
        found = kinds.setdefault((v.notebook, v.exercise), collections.defaultdict(set))
        labelled = [(label, line) for label, line in classify_lines(v.feedback) if label is not None]
        for label, line in labelled or [(OTHER, f"{v.status}, without feedback")]:
            found[label].add(v.student)
            examples.setdefault((v.notebook, v.exercise, label), line)
            if label == OTHER:
                other.append((v.student, v.notebook, v.exercise, line))
    return Mistakes(verdicts, missing or {}, kinds, examples, other)


def collect(root: Path) -> Mistakes:
    """The mistakes in the course's autograde/ folder."""
    return analyse(*read_class(root / course.AUTOGRADED_DIR))


@dataclasses.dataclass
class Distribution:
    notebook: str
    scores: list[float]
    max_score: float

    def quartiles(self) -> tuple[float, float, float, float, float]:
        s = sorted(self.scores)
        if len(s) < 2:
            return (s[0],) * 5 if s else (0.0,) * 5
        q1, q2, q3 = statistics.quantiles(s, n=4, method="inclusive")
        return s[0], q1, q2, q3, s[-1]

    def bands(self) -> list[tuple[str, int]]:
        """Students per fifth of the points (the full points a band of their own)."""
        edges = [0, 20, 40, 60, 80, 100]
        counts = [0] * 6
        for score in self.scores:
            share = 100 * score / self.max_score if self.max_score else 0
            counts[5 if share >= 100 else min(4, int(share // 20))] += 1
        names = [f"{a}–{b - 1}%" for a, b in zip(edges, edges[1:])] + ["100%"]
        return list(zip(names, counts))


def distributions(verdicts: list[Verdict]) -> list[Distribution]:
    """Per notebook, each autograded student's score (the sum of its test cells)."""
    out = []
    for notebook in NOTEBOOKS:
        mine = [v for v in verdicts if v.notebook == notebook]
        per_student: dict[str, float] = collections.defaultdict(float)
        for v in mine:
            per_student[v.student] += v.score
        total = sum(e.points for e in entries(notebook) if isinstance(e, Exercise))
        out.append(Distribution(notebook, [per_student[s] for s in sorted(per_student)], total))
    return out
