"""``python -m instructor sync|release|autograde|demo|doctor|catalogue|student-kit|new-notebook|new-exercise|
new-question|prove|export|similarity``."""
from __future__ import annotations

import argparse
import os
import sys

from instructor.grading import nbgrader_command

nbgrader_command.skip_optional_imports()  # before anything imports nbformat: 1.3 s of every command's start

from instructor.authoring import notebooks
from instructor.authoring import release  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor")
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync", help="rebuild the generated cells of source/foundations/*.ipynb")
    sync.add_argument("--check", action="store_true", help="only say whether anything would change (exit 1)")
    sub.add_parser("release", help="nbgrader generate_assignment into release/foundations, checked for leaks")
    grade = sub.add_parser("autograde", help="autograde submitted/ in parallel, generate feedback, export grades.csv")
    grade.add_argument("--student", nargs="+", help="only these students (regrade)")
    grade.add_argument("--jobs", type=int, default=None, help="parallel nbgrader processes (default: the core count)")
    grade.add_argument("--db", metavar="URL", default=None,
                       help="the gradebook (default: $FOUNDATIONS_DB_URL, else gradebook.db beside the course), "
                            "e.g. postgresql://grader:secret@dbhost/foundations")
    grade.add_argument("--cluster", metavar="ADDRESS", default=None,
                       help="grade on the Dask scheduler at ADDRESS (tcp://host:8786), one task per student")
    grade.add_argument("--require-confinement", action="store_true",
                       help="refuse to grade unless every confinement layer is active (see doctor)")
    sub.add_parser("doctor", help="which confinement layers student code gets here, proven with a real kernel")
    demo = sub.add_parser("demo", help="release, a sample class of 45 students, autograde, feedback, summary")
    demo.add_argument("--jobs", type=int, default=None)
    catalogue = sub.add_parser("catalogue", help="generate docs/EXERCISES.md from the registry, checks and release")
    catalogue.add_argument("--check", action="store_true", help="only say whether it is out of step (exit 1)")
    kit = sub.add_parser("student-kit", help="the checker wheel and the released notebooks' zip, for students")
    kit.add_argument("--out", default=None, help="the folder to write them to (default: dist/student-kit)")
    new_nb = sub.add_parser("new-notebook", help="scaffold a notebook: its declarations, solutions and source notebook")
    new_nb.add_argument("notebook", help="NN_name, e.g. 05_loss")
    new_nb.add_argument("title", help="the notebook's title")
    for kind, what in (("exercise", "an autograded exercise"), ("question", "a written question graded by hand")):
        entry = sub.add_parser(f"new-{kind}", help=f"scaffold {what} in a notebook (declaration, reference, cell)")
        entry.add_argument("notebook")
        entry.add_argument("name", help="the def or class name students write (the catalogue name)")
        entry.add_argument("--points", type=float, default=2.0)
        entry.add_argument("--summary" if kind == "exercise" else "--prompt", default="",
                           help="one line for the catalogue" if kind == "exercise" else "the question students answer")
    prove = sub.add_parser("prove", help="prove one notebook: in step, reference passes, wrong answers fail, mutants")
    prove.add_argument("notebook")
    prove.add_argument("--no-mutants", action="store_true", help="skip the mutants (the slowest step)")
    export = sub.add_parser("export", help="grades in the LMS's import format (Canvas, Moodle) or a plain CSV")
    export.add_argument("--to", required=True, choices=("canvas", "moodle", "csv"), dest="lms")
    export.add_argument("--roster", metavar="FILE", default=None,
                        help="the class list exported from the LMS (Canvas's or Moodle's grade export, or any CSV "
                             "with a student id or email column): students are matched through it")
    export.add_argument("--out", metavar="FILE", default=None, help="default: grades-<lms>.csv beside the course")
    export.add_argument("--missing", choices=("empty", "zero"), default="empty",
                        help="a roster student with no submission at all (default: empty; a notebook missing from a "
                             "submission is a 0 autograde gave)")
    export.add_argument("--ungraded", choices=("empty", "zero"), default="empty",
                        help="a student the grader could not grade (default: empty, never a silent 0)")
    export.add_argument("--db", metavar="URL", default=None, help="the gradebook (as for autograde)")
    similar = sub.add_parser("similarity", help="pairs of students whose code is too alike (after autograde): "
                                                "similarity.html beside grades.csv")
    similar.add_argument("--reference", metavar="DIR", default=None,
                         help="earlier terms' submitted/ folder: compared against, never listed among themselves")
    args = parser.parse_args(argv)
    if args.command == "similarity":
        return _similarity(args.reference)
    if args.command == "export":
        return _export(args)
    if args.command.startswith("new-"):
        return _scaffold(args)
    if args.command == "prove":
        from instructor.authoring import prove as proving
        from checker.registry import NOTEBOOKS
        if args.notebook not in NOTEBOOKS:
            print(f"instructor: no notebook {args.notebook} (known: {', '.join(NOTEBOOKS)})", file=sys.stderr)
            return 2
        return proving.prove(args.notebook, with_mutants=not args.no_mutants)
    if args.command == "catalogue":
        return _catalogue(args.check)
    if args.command == "student-kit":
        return _student_kit(args.out)
    if args.command == "doctor":
        from instructor.grading import doctor
        from instructor.authoring.notebooks import ROOT
        code, text = doctor.report(ROOT)
        print(text)
        return code
    if args.command == "autograde":
        from instructor.grading import classday
        if args.require_confinement:
            from checker.sandbox import jail
            if not jail.available().full:
                print(f"instructor: {jail.NotConfined(jail.available())}", file=sys.stderr)
                return 2
            os.environ[jail.REQUIRE_ENV] = "1"  # the nbgrader processes refuse too
        if args.db:
            from instructor.grading import gradebook
            os.environ[gradebook.DB_ENV] = args.db  # nbgrader_config.py and every nbgrader process read it
        client = None
        if args.cluster:
            from instructor.grading import cluster
            try:
                client = cluster.connect(args.cluster)
            except cluster.ClusterUnavailable as exc:
                print(f"instructor: {exc}", file=sys.stderr)
                return 2
        try:
            result = classday.grade_class(jobs=args.jobs, only=args.student, cluster=client)
        finally:
            if client is not None:
                client.close()
        reports = classday.write_reports(classday.ROOT, result["table"])
        print(classday.summary(classday.ROOT, result["table"], result["seconds"], len(result["runs"]), reports))
        return 0
    if args.command == "demo":
        from instructor.grading import classday
        return classday.demo(jobs=args.jobs)
    if args.command == "sync":
        changed = notebooks.sync(check_only=args.check)
        verb = "would change" if args.check else "updated"
        print(f"{verb}: {', '.join(changed)}" if changed else "source notebooks are in step with solutions/ and the registry")
        return 1 if (changed and args.check) else 0
    try:
        paths = release.release()
    except release.ReleaseFailed as exc:
        print(f"instructor: {exc.reason}", file=sys.stderr)
        return 1
    print("released:", ", ".join(str(p.relative_to(release.ROOT)) for p in paths))
    return 0


def _similarity(reference: str | None) -> int:
    import csv
    from pathlib import Path

    from checker import course
    from instructor.authoring.notebooks import ROOT
    from instructor.reports import similarity_report

    from instructor.reports import similarity

    if reference and not Path(reference).is_dir():
        what = "is not a folder" if Path(reference).exists() else "does not exist"
        print(f"instructor: the reference folder {reference} {what}", file=sys.stderr)
        return 2
    grades = ROOT / course.GRADES_CSV
    table = list(csv.DictReader(grades.open())) if grades.exists() else []
    terminal = sys.stderr.isatty()

    def progress(line: str) -> None:
        if terminal:
            print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)

    try:
        pairs, path, missing, bars = similarity_report.report(ROOT, table, Path(reference) if reference else None,
                                                              progress)
    except similarity.ReferenceEmpty as exc:
        print(f"instructor: {exc}", file=sys.stderr)
        return 2
    if terminal:
        print("\r\033[K", end="", file=sys.stderr)
    for line in similarity_report.summary_lines(pairs, path, missing, bars):
        print(line)
    return 2 if pairs is None else 0


def _export(args) -> int:
    from pathlib import Path

    from instructor.authoring.notebooks import ROOT
    from instructor.grading import autograde, gradebook
    from instructor.reports import lms_export
    from instructor.reports.class_results import class_results, people_of

    address = args.db or gradebook.url(ROOT)
    try:
        roster = lms_export.read_roster(Path(args.roster), args.lms) if args.roster else None
    except (OSError, lms_export.RosterInvalid) as exc:
        print(f"instructor: {exc}", file=sys.stderr)
        return 2
    with gradebook.opened(address) as gb:
        results = class_results(autograde.rows_of(gb), autograde.load_flags(ROOT), people_of(gb))
    out = Path(args.out) if args.out else ROOT / f"grades-{args.lms}.csv"
    report = lms_export.export(results, args.lms, out, roster, args.missing, args.ungraded)
    for line in lms_export.summary(report, args.missing, args.ungraded):
        print(line)
    return 1 if report.unmatched else 0


def _scaffold(args) -> int:
    from instructor.authoring import scaffold as authoring

    try:
        if args.command == "new-notebook":
            written = authoring.new_notebook(args.notebook, args.title)
        elif args.command == "new-exercise":
            written = authoring.new_exercise(args.notebook, args.name, args.points, args.summary)
        else:
            written = authoring.new_question(args.notebook, args.name, args.points, args.prompt)
    except authoring.AuthoringError as exc:
        print(f"instructor: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(authoring.ROOT) if path.is_relative_to(authoring.ROOT) else path}")
    print(authoring.NEXT_STEPS)
    return 0


def _catalogue(check_only: bool) -> int:
    from instructor.authoring import catalogue

    try:
        changed = catalogue.write(check_only=check_only)
    except catalogue.NotReleased as exc:
        print(f"instructor: {exc}", file=sys.stderr)
        return 2
    shown = catalogue.CATALOGUE.relative_to(catalogue.ROOT)
    if check_only:
        if changed:
            print(f"instructor: {catalogue.OUT_OF_STEP.format(path=shown)}", file=sys.stderr)
            return 1
        print(catalogue.IN_STEP.format(path=shown))
        return 0
    print(catalogue.summary())
    return 0


def _student_kit(out: str | None) -> int:
    from pathlib import Path

    from instructor.authoring import student_kit

    try:
        kit = student_kit.build(Path(out) if out else student_kit.DEFAULT_OUT)
    except student_kit.KitError as exc:
        print(f"instructor: {exc}", file=sys.stderr)
        return 1
    print(student_kit.summary(kit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
