"""The instructor's day in one call: collect -> autograde -> feedback -> grades.csv -> summary."""
from __future__ import annotations

import dataclasses

from checker import course

import os
import shutil
import sys
import time
from pathlib import Path

from checker.registry import NOTEBOOKS
from checker.sandbox import template
from instructor.reports import charts
from instructor.grading import autograde as ag
from instructor.reports import mistakes as mk
from instructor.grading import gradebook
from instructor.reports import mistakes_report, similarity_report
from instructor.authoring.notebooks import ROOT


PLANTED_FOUND = "the similarity report lists the sample class's {n} planted copies, and no other pair"
PLANTED_DIFFER = "the similarity report differs from the planted copies: missed {missed}; listed besides {extra}"


def say(line: str) -> None:
    print(line, flush=True)


def progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def grade_class(root: Path = ROOT, jobs: int | None = None, only: list[str] | None = None,
                extra: list[str] = (), say=say, cluster=None, progress=progress) -> dict:
    """Autograde (all, or ``only`` these students), generate feedback, export; returns the figures. With
    ``cluster`` (a Dask scheduler's address, or a ``distributed.Client``), students are graded there."""
    started = time.monotonic()
    ensure_assignment(root)
    flags = ag.prepare(root / course.SUBMITTED_DIR)
    if only:
        flags = [f for f in flags if f.student in only]
    if cluster is not None:
        from instructor.grading import cluster as on_cluster
        runs = on_cluster.autograde(root, cluster, only=only, extra=list(extra), progress=progress, say=say)
    else:
        with template.running(say):  # every checker child of every student is forked from one template
            runs = ag.autograde(root, only=only, jobs=jobs, extra=list(extra), progress=progress, say=say,
                                feedback=True)
    graded = [r.student for r in runs]
    ag.save_flags(root, flags + ag.run_flags(runs), graded)
    ag.save_confinement(root, runs)
    seconds = time.monotonic() - started
    for run in runs:
        if run.feedback:
            say(f"{run.student}: {run.feedback}")
    csv_path, table = ag.export(root)
    return {"runs": runs, "seconds": seconds, "table": table, "csv": csv_path}


def ensure_assignment(root: Path) -> None:
    """autograde needs the assignment and its graded cells in the gradebook: generate_assignment puts them there."""
    from nbgrader.api import MissingEntry

    from instructor.authoring import release

    if gradebook.DB_ENV in os.environ or (root / course.GRADEBOOK_FILE).exists():
        with gradebook.opened(gradebook.url(root)) as gb:
            try:
                if len(gb.find_assignment(ag.ASSIGNMENT).notebooks) == len(NOTEBOOKS):
                    return
            except MissingEntry:
                pass
    release.release(root)


def mismatches(table: list[dict], expected: dict[str, float]) -> list[str]:
    """Students whose autograded total differs from the sample class's expected one."""
    got = {row["student"]: float(row["autograded_score"] or 0) for row in table}
    return [name for name, total in expected.items() if abs(got.get(name, -1.0) - total) > 1e-6]


@dataclasses.dataclass
class Reports:
    """What autograde writes beside grades.csv for the instructor, and what the summary says of it."""
    rates: dict[str, float]
    mistakes: mk.Mistakes
    mistakes_page: Path
    chart: Path
    similar: list | None = None  # the pairs the similarity report lists (None: not compared)
    similarity_page: Path | None = None
    similarity_missing: str = ""  # why it was not compared
    similarity_bars: dict = dataclasses.field(default_factory=dict)  # per notebook, the "same answers" bar


def write_reports(root: Path, table: list[dict], reference: Path | None = None) -> Reports:
    """mistakes.html, grades.png and similarity.html beside grades.csv (the only files this writes, with the
    similarity pairs as data under autograde/)."""
    rates = ag.pass_rates(root)
    found = mk.collect(root)
    page = mistakes_report.write_html(found, root / course.MISTAKES_REPORT)
    pairs = [(f"{mk.short_label(nb, ex)}: {kind}", n) for nb, ex, kind, n in found.pairs()]
    chart = charts.chart(table, rates, root / course.GRADES_CHART, pairs)
    similar, similarity_page, missing, bars = similarity_report.report(root, table, reference)
    return Reports(rates, found, page, chart, similar, similarity_page, missing, bars)


def summary(root: Path, table: list[dict], seconds: float, students: int, reports: Reports,
            expected: dict[str, float] | None = None) -> str:
    """The autograde run in text: per student, per exercise, the mistakes, where the reports are. Writes nothing."""
    expected = expected or {}
    wrong = set(mismatches(table, expected))
    lines = [f"{'student':<28} {'status':<11} {'score':>6} {'expected' if expected else ''}  flags"]
    for row in table:
        score = row["autograded_score"] or "-"
        want = expected.get(row["student"])
        mark = "" if want is None else f"{want:g}" + (" (differs)" if row["student"] in wrong else "")
        lines.append(f"{row['student']:<28} {row['status']:<11} {score:>6} {mark:>8}  {row['flags']}")
    lines += ["", "pass rate per exercise (full points):"]
    for name, rate in reports.rates.items():
        lines.append(f"  {name:<34} {100 * rate:5.1f}%  {'#' * round(20 * rate)}")
    lines += [""] + mistakes_report.summary_lines(reports.mistakes, reports.mistakes_page, root / course.AUTOGRADED_DIR)
    lines += [""] + similarity_report.summary_lines(reports.similar, reports.similarity_page, reports.similarity_missing,
                                                     reports.similarity_bars)
    flagged = sum(r["status"] != "graded" for r in table)
    layers = sorted({r.get("confinement", "") for r in table} - {""})
    lines += ["", "sandbox (student code in every kernel and checker process): " + (" / ".join(layers) or "unknown")]
    lines += ["", f"{students} students autograded, with feedback, in {seconds:.0f} s ({60 * students / max(seconds, 1e-9):.1f}/min); "
                  f"{flagged} flagged. grades: {root / course.GRADES_CSV}"]
    lines.append(f"chart: {reports.chart}")
    if expected:
        lines.append(f"scores match the sample class's expected totals for {len(expected) - len(wrong)} of "
                     f"{len(expected)} students" + (f"; they differ for {', '.join(sorted(wrong))}" if wrong else ""))
    return "\n".join(lines)


def reset(root: Path) -> None:
    """Forget earlier sample-class runs (the gradebook, submissions, results)."""
    for name in (course.SUBMITTED_DIR, course.FEEDBACK_DIR):
        shutil.rmtree(root / name, ignore_errors=True)
    for child in (root / course.AUTOGRADED_DIR).glob("*"):
        if child.name != "README.md":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for name in (course.GRADEBOOK_FILE, course.GRADES_CSV, course.GRADES_CHART, course.MISTAKES_REPORT,
                 course.SIMILARITY_REPORT, "roster-canvas.csv", "grades-canvas.csv", "grades-canvas.unmatched.csv"):
        (root / name).unlink(missing_ok=True)


def demo(root: Path = ROOT, jobs: int | None = None) -> int:
    from instructor.authoring import release
    from instructor.grading import sample_class

    reset(root)  # the gradebook too: the release below puts the assignment back into a new one
    say("== release: nbgrader generate_assignment foundations")
    release.release(root)
    roster = sample_class.build_roster()
    say(f"== a sample class of {len(roster)} students into {root / 'submitted'}")
    sample_class.write_class(root / course.RELEASE_DIR / course.ASSIGNMENT, root / course.SUBMITTED_DIR, roster)
    say(f"== autograde ({jobs or 'all'} cores), feedback, grades.csv")
    result = grade_class(root, jobs=jobs, extra=["--Execute.timeout=30"])
    expected = {s.id: sample_class.expected_total(s) for s in roster}
    reports = write_reports(root, result["table"])
    say(summary(root, result["table"], result["seconds"], len(roster), reports, expected))
    copies_as_planted = True
    if reports.similar is not None:
        planted = {frozenset((s.id, source)) for s in roster for source in s.copied_from.values()}
        listed = {frozenset((p.a, p.b)) for p in reports.similar}
        copies_as_planted = listed == planted
        say(PLANTED_FOUND.format(n=len(planted)) if copies_as_planted else PLANTED_DIFFER.format(
            missed=", ".join(" and ".join(sorted(p)) for p in planted - listed) or "none",
            extra=", ".join(" and ".join(sorted(p)) for p in listed - planted) or "none"))
    say_export(root, roster)
    return 1 if mismatches(result["table"], expected) or not copies_as_planted else 0


def say_export(root: Path, roster, say=say) -> None:
    """The grades as Canvas imports them, through a roster as Canvas exports it: one student not on it (listed,
    not dropped), one newcomer on it with no submission (an empty cell)."""
    from instructor.grading import sample_class
    from instructor.reports import lms_export
    from instructor.reports.class_results import class_results, people_of

    path = root / "roster-canvas.csv"
    path.write_text(sample_class.canvas_roster(roster))
    with gradebook.opened(gradebook.url(root)) as gb:
        results = class_results(ag.rows_of(gb), ag.load_flags(root), people_of(gb))
    report = lms_export.export(results, "canvas", root / "grades-canvas.csv", lms_export.read_roster(path, "canvas"))
    say(f"== python -m instructor export --to canvas --roster {path.name}")
    for line in lms_export.summary(report, lms_export.EMPTY):
        say(line)


if __name__ == "__main__":
    sys.exit(demo())
