"""Grades the LMS imports: Canvas's gradebook import CSV, Moodle's grade import CSV, or a plain CSV.

Each student's record (:mod:`instructor.reports.class_results`) is matched to a row of a roster the
instructor exports from the LMS, so the file carries the identifiers the LMS matches on. Nothing is lost
on the way: a submission whose student is not on the roster is listed (and written to a side file), never
dropped; a roster student with no submission gets an empty cell or 0, as the instructor chooses; a student
the grader could not grade is left empty unless the instructor asks for 0.

Formats, as their documentation describes them:

- Canvas ("Grades > Import"): ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per
  assignment. A column named as in Canvas's own export, ``Name (1234)``, updates that assignment; any other
  name creates one. A second row, ``Points Possible``, gives each column's maximum. Canvas matches a row on
  ``ID``, ``SIS User ID`` or ``SIS Login ID``; with a roster they are the roster's, without one the
  course's student id goes in ``SIS Login ID`` (a JupyterHub user name is usually the login).
- Moodle ("Grades > Import > CSV file"): a header row, one row per student; the instructor maps the column
  that identifies the user (``Email address`` or ``ID number``) and each grade column at import. Students are
  matched by ``ID number``, ``Username`` or ``Email address`` (or an email's part before the ``@``).
- csv: one row per student, every notebook, the total, the status and the flags.

Used from ``python -m instructor export --to canvas|moodle|csv`` and, as nbgrader export plugins, from
``nbgrader export --exporter=instructor.reports.lms_export.CanvasExportPlugin`` (``MoodleExportPlugin``,
``CsvExportPlugin``) with ``--CanvasExportPlugin.roster=FILE``.
"""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from checker import course
from checker.registry import NOTEBOOKS
from instructor.reports.class_results import FLAGGED, StudentResult

FORMATS = ("canvas", "moodle", "csv")
EMPTY, ZERO = "empty", "zero"
BLANK_CHOICES = (EMPTY, ZERO)

# the columns of each LMS's file, as its documentation names them
CANVAS_IDS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_KEYS = ("ID", "SIS User ID", "SIS Login ID")  # what Canvas (and the roster match) identifies a student by
CANVAS_POINTS_ROW = "Points Possible"  # the Student cell of the row that gives each column's maximum
MOODLE_IDS = ("First name", "Last name", "ID number", "Email address")
MOODLE_KEYS = ("ID number", "Email address", "Username")
# a plain roster's id column(s), any letter case
CSV_KEYS = ("student", "student id", "id", "sis user id", "sis login id", "id number", "username", "login", "user",
            "email", "email address")
EXTRA_FIELDS = "\x00extra"  # where a row's fields beyond the header go (a stray separator in a name)

# what the instructor reads
UNMATCHED = ("submissions not matched to the roster, so not in the export: {n} (listed below and in {path})")
UNMATCHED_LINE = "  {student}: {reason}"
NOT_ON_ROSTER = "not on the roster"
AMBIGUOUS = "matches {n} roster rows ({rows})"
ROSTER_EMPTY = "the roster {path} has no students"
ROSTER_COLUMNS = ("the roster {path} does not look like a {lms} export: it has none of the columns {wanted} "
                  "(its columns: {found})")
WRITTEN = "{lms}: {rows} rows written to {path}, {decided} of them with scores"
ROSTER_ONLY = "on the roster with no submission, written {shown}: {n} ({names})"
ZERO_WITHHELD = ("--missing zero not applied: submissions not matched to the roster: {n} (below), and a roster row "
                 "without a submission may be one of theirs; correct the roster and export again")
NOT_GRADED_LINE = "could not be graded (see grades.csv), written {shown}: {n} ({names})"
FLAGGED_LINE = "written with their scores but flagged by autograde (read grades.csv before posting): {n} ({names})"
PENDING_LINE = ("with written answers not graded by hand yet, which count 0 until you grade them (nbgrader "
                "formgrader) and export again: {n} students")
LISTED = 8


class RosterInvalid(ValueError):
    """A roster file the export cannot match students through."""

    def __init__(self, path: Path, lms: str, message: str):
        self.path, self.lms = path, lms
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class RosterRow:
    fields: dict  # the row as the LMS exported it
    keys: frozenset  # its identifiers, lower-cased, that a course's student id or email is matched against
    label: str = ""  # its first identifier as the LMS wrote it


@dataclasses.dataclass
class ExportReport:
    path: Path
    lms: str
    rows: int = 0
    decided: int = 0
    blank: int = 0  # students written with empty cells (no submission, or not graded)
    unmatched: list = dataclasses.field(default_factory=list)  # (student, reason): not written
    unmatched_path: Path | None = None
    roster_only: list = dataclasses.field(default_factory=list)  # roster names with no submission
    not_graded: list = dataclasses.field(default_factory=list)  # students the grader could not grade
    flagged: list = dataclasses.field(default_factory=list)  # written with their scores, flagged by autograde
    pending_by_hand: list = dataclasses.field(default_factory=list)  # written answers not graded by hand yet
    zero_withheld: bool = False  # --missing zero not applied: some submissions are unmatched


def read_roster(path: Path, lms: str) -> list[RosterRow]:
    """The roster the LMS exported: Canvas's gradebook export, Moodle's grade export, or any CSV with a
    student id or email column. Commas or semicolons (a spreadsheet's regional setting), a byte-order mark,
    rows with more fields than the header, Canvas's rows that are not students, and a student listed twice (the
    same identifiers) are all taken as the LMS means them."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect, restkey=EXTRA_FIELDS)
    columns = [c.strip() for c in reader.fieldnames or []]
    rows = [{(k or "").strip(): v.strip() if isinstance(v, str) else "" for k, v in row.items()
             if k != EXTRA_FIELDS} for row in reader]
    wanted = {"canvas": CANVAS_KEYS, "moodle": MOODLE_KEYS}.get(lms)
    if wanted is None:
        by_lower = {c.lower(): c for c in columns}
        wanted = tuple(by_lower[k] for k in CSV_KEYS if k in by_lower) or CSV_KEYS
    keys = [c for c in wanted if c in columns]
    if not keys:
        raise RosterInvalid(path, lms, ROSTER_COLUMNS.format(path=path, lms=lms, wanted=", ".join(wanted),
                                                             found=", ".join(columns) or "none"))
    roster, seen = [], set()
    for row in rows:
        if lms == "canvas" and _is_points_row(row):
            continue
        found = frozenset(k for c in keys if row.get(c) for k in _identifiers(row[c]))
        if found and found not in seen:  # a student exported twice is one student
            seen.add(found)
            roster.append(RosterRow(fields=row, keys=found, label=next(row[c] for c in keys if row.get(c))))
    if not roster:
        raise RosterInvalid(path, lms, ROSTER_EMPTY.format(path=path))
    return roster


def _identifiers(value: str) -> set[str]:
    """What a roster cell identifies a student by, lower-cased: the value, and an email's part before the @ (a
    course id is often a login, ``s03`` for ``s03@uni.example``)."""
    value = value.lower()
    return {value, value.split("@", 1)[0]} if "@" in value else {value}


def _is_points_row(row: dict) -> bool:
    """Canvas's export carries rows that are not students: ``Points Possible`` and a posting-policy row."""
    student = row.get("Student", "").strip()
    return student == CANVAS_POINTS_ROW or (student == "" and not any(row.get(k) for k in CANVAS_KEYS))


def match(results: list[StudentResult], roster: list[RosterRow]):
    """Each result's roster row (by student id, else email, lower-cased), the unmatched ones with the reason,
    the roster rows nobody matched, and those an unmatched student matched more than once (held back)."""
    matched, unmatched, used = [], [], set()
    for result in results:
        wanted = {result.student.lower()} | (_identifiers(result.email) if result.email else set())
        rows = [i for i, r in enumerate(roster) if r.keys & wanted]
        if len(rows) == 1 and rows[0] not in used:
            matched.append((result, roster[rows[0]]))
            used.add(rows[0])
        else:
            names = "; ".join(_name(roster[i]) for i in rows)
            unmatched.append((result.student, AMBIGUOUS.format(n=len(rows), rows=names) if rows else NOT_ON_ROSTER))
    return matched, unmatched, [r for i, r in enumerate(roster) if i not in used]


def _name(row: RosterRow) -> str:
    f = row.fields
    return (f.get("Student") or f.get("Name") or f.get("name")
            or " ".join(x for x in (f.get("First name"), f.get("Last name")) if x) or row.label)


def cells(result: StudentResult | None, missing: str, ungraded: str) -> dict[str, str]:
    """Per notebook, the text of its cell: the points, or empty / 0 where there are none to give."""
    def blank(rule):
        return "0" if rule == ZERO else ""
    if result is None:
        return {nb: blank(missing) for nb in NOTEBOOKS}
    if not result.decided:
        return {nb: blank(ungraded) for nb in NOTEBOOKS}
    return {nb: number(result.points[nb]) if nb in result.points else blank(missing) for nb in NOTEBOOKS}


def number(value: float) -> str:
    """A score as every LMS reads it: plain decimals, never an exponent (``21.5``, ``0.25``, ``100``)."""
    return f"{round(value, 4):f}".rstrip("0").rstrip(".") or "0"


def export(results: list[StudentResult], lms: str, out: Path, roster: list[RosterRow] | None = None,
           missing: str = EMPTY, ungraded: str = EMPTY) -> ExportReport:
    """Write ``out`` in the LMS's import format; what could not be written is in the report (and, for
    students not on the roster, in a side file ``<out>.unmatched.csv``)."""
    if lms not in FORMATS:
        raise ValueError(f"unknown LMS format {lms!r} (known: {', '.join(FORMATS)})")
    out = Path(out)
    report = ExportReport(path=out, lms=lms, not_graded=[r.student for r in results if not r.decided])
    if roster is None:
        pairs, rest = [(r, None) for r in results], []
    else:
        pairs, report.unmatched, rest = match(results, roster)
    if report.unmatched and missing == ZERO and rest:
        report.zero_withheld = True  # a roster row "without a submission" may be an unmatched student's
        missing = EMPTY
    report.flagged = [r.student for r, _ in pairs if r.status == FLAGGED]
    report.pending_by_hand = [r.student for r, _ in pairs if r.pending_by_hand]
    maxima = _maxima(results)
    header, rows = _table(lms, pairs, rest, maxima, missing, ungraded, roster)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    report.rows = len(pairs) + len(rest)
    report.decided = sum(1 for r, _ in pairs if r.decided)
    report.blank = report.rows - report.decided
    report.roster_only = [_name(r) for r in rest]
    if report.unmatched:
        report.unmatched_path = out.with_name(out.stem + ".unmatched.csv")
        by_student = {r.student: r for r in results}
        with report.unmatched_path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["student", "reason", "status", *NOTEBOOKS])
            for student, reason in report.unmatched:
                writer.writerow([student, reason, by_student[student].status,
                                 *cells(by_student[student], EMPTY, EMPTY).values()])
    return report


def _maxima(results: list[StudentResult]) -> dict[str, float]:
    """Each notebook's maximum as the gradebook gives it (hand-graded answers included); the registry's
    points per notebook where nobody submitted it."""
    from checker.registry import NOTEBOOK_POINTS

    found = {}
    for r in results:
        for nb, m in r.max_points.items():
            found[nb] = max(found.get(nb, 0), m)
    return {nb: found.get(nb, NOTEBOOK_POINTS) for nb in NOTEBOOKS}


def _table(lms, pairs, rest, maxima, missing, ungraded, roster):
    if lms == "canvas":
        columns = [_canvas_column(nb, roster) for nb in NOTEBOOKS]
        header = [*CANVAS_IDS, *columns]
        rows = [[CANVAS_POINTS_ROW, "", "", "", "", *(number(maxima[nb]) for nb in NOTEBOOKS)]]
        for result, row in pairs + [(None, r) for r in rest]:
            ids = [row.fields.get(c, "") for c in CANVAS_IDS] if row else \
                [_full_name(result), "", "", result.student, ""]
            rows.append([*ids, *cells(result, missing, ungraded).values()])
        return header, rows
    if lms == "moodle":
        header = [*MOODLE_IDS, *(f"{course.ASSIGNMENT} {nb}" for nb in NOTEBOOKS)]
        rows = []
        for result, row in pairs + [(None, r) for r in rest]:
            ids = [row.fields.get(c, "") for c in MOODLE_IDS] if row else \
                [result.first_name, result.last_name, result.student, result.email]
            rows.append([*ids, *cells(result, missing, ungraded).values()])
        return header, rows
    header = ["student", "first_name", "last_name", "email", "status", *NOTEBOOKS, "total", "max", "flags"]
    rows = []
    for result, row in pairs + [(None, r) for r in rest]:
        if result is None:
            rows.append([_name(row), "", "", "", "no submission", *cells(None, missing, ungraded).values(),
                         "0" if missing == ZERO else "", number(sum(maxima.values())), ""])
            continue
        marks = cells(result, missing, ungraded)
        total = sum(float(v) for v in marks.values() if v)
        rows.append([result.student, result.first_name, result.last_name, result.email, result.status,
                     *marks.values(), number(total) if any(marks.values()) else "", number(sum(maxima.values())),
                     " | ".join(result.flags)])
    return header, rows


def _canvas_column(notebook: str, roster) -> str:
    """The roster's own header for this notebook (``01_matmul (1234)`` updates Canvas's assignment 1234),
    else the notebook's name (Canvas creates the assignment)."""
    if roster:
        for column in roster[0].fields:
            if column == notebook or column.startswith(f"{notebook} ("):
                return column
    return notebook


def _full_name(result: StudentResult) -> str:
    if result.last_name or result.first_name:
        return ", ".join(x for x in (result.last_name, result.first_name) if x)
    return result.student


def summary(report: ExportReport, missing: str, ungraded: str = EMPTY) -> list[str]:
    """What the instructor reads after an export: what was written, and everything to look at before posting."""
    def listed(names: list[str]) -> str:
        return ", ".join(names[:LISTED]) + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")

    lines = [WRITTEN.format(lms=report.lms, rows=report.rows, path=report.path, decided=report.decided)]
    if report.roster_only:
        shown = "empty" if missing == EMPTY or report.zero_withheld else "0"
        lines.append(ROSTER_ONLY.format(n=len(report.roster_only), shown=shown, names=listed(report.roster_only)))
    if report.zero_withheld:
        lines.append(ZERO_WITHHELD.format(n=len(report.unmatched)))
    if report.not_graded:
        lines.append(NOT_GRADED_LINE.format(n=len(report.not_graded), shown="0" if ungraded == ZERO else "empty",
                                            names=listed(report.not_graded)))
    if report.flagged:
        lines.append(FLAGGED_LINE.format(n=len(report.flagged), names=listed(report.flagged)))
    if report.pending_by_hand:
        lines.append(PENDING_LINE.format(n=len(report.pending_by_hand)))
    if report.unmatched:
        lines.append(UNMATCHED.format(n=len(report.unmatched), path=report.unmatched_path))
        lines += [UNMATCHED_LINE.format(student=s, reason=r) for s, r in report.unmatched]
    return lines


# --- nbgrader's export hook ------------------------------------------------------------------------------

def _plugin(lms: str):
    from nbgrader.plugins import ExportPlugin
    from traitlets import Enum, Unicode

    class Plugin(ExportPlugin):
        roster = Unicode("", help="the roster exported from the LMS (a CSV)").tag(config=True)
        missing = Enum(list(BLANK_CHOICES), default_value=EMPTY,
                       help="a roster student's notebook with no submission: empty or 0").tag(config=True)
        ungraded = Enum(list(BLANK_CHOICES), default_value=EMPTY,
                        help="a student the grader could not grade: empty or 0").tag(config=True)

        def export(self, gradebook) -> None:
            """As ``python -m instructor export``: exit 2 on a roster it cannot read (one line, no traceback), exit
            1 when a submission is not on the roster (the file is written all the same), else 0."""
            from instructor.grading import autograde
            from instructor.reports.class_results import class_results, people_of

            root = Path(self.parent.coursedir.root) if self.parent is not None else Path(".")
            results = class_results(autograde.rows_of(gradebook), autograde.load_flags(root), people_of(gradebook))
            if self.student:
                wanted = {str(s) for s in self.student}
                results = [r for r in results if r.student in wanted]
            try:
                roster = read_roster(Path(self.roster), lms) if self.roster else None
            except (OSError, RosterInvalid) as exc:
                self.log.error(str(exc))
                raise SystemExit(2)
            out = Path(self.to or f"grades-{lms}.csv")
            report = export(results, lms, out, roster, self.missing, self.ungraded)
            for line in summary(report, self.missing, self.ungraded):
                (self.log.info if line.startswith(report.lms) else self.log.warning)(line)
            if report.unmatched:
                raise SystemExit(1)

    Plugin.__name__ = Plugin.__qualname__ = f"{lms.capitalize()}ExportPlugin"
    return Plugin


def __getattr__(name: str):
    """``CanvasExportPlugin``, ``MoodleExportPlugin``, ``CsvExportPlugin``: made when nbgrader asks (so that
    importing this module does not import nbgrader)."""
    for lms in FORMATS:
        if name == f"{lms.capitalize()}ExportPlugin":
            plugin = _plugin(lms)
            globals()[name] = plugin
            return plugin
    raise AttributeError(name)
