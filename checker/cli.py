"""``python -m checker PATH [--only NAME ...] [--json] [--notebook NB]``: the fixed command-line contract
(``--format gradescope`` adds Gradescope's results.json).

Exit codes: 0 every autograded exercise passed, 1 some did not, 2 PATH cannot be read
(or the arguments are wrong): one line on stderr, no traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from checker import render
from checker.errors import CheckerError
from checker.grading import Options, grade
from checker.registry import NOTEBOOKS
from checker.sandbox import spawn

EXIT_PASSED, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2
FORMATS = ("text", "json", "gradescope")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for an unreadable PATH
        print(f"checker: {message}", file=sys.stderr)
        raise SystemExit(EXIT_UNREADABLE)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m checker", description="Check a lesson notebook (or .py file) exercise by exercise.")
    p.add_argument("path", metavar="PATH", help="the .ipynb or .py file to check")
    p.add_argument("--only", nargs="+", metavar="NAME", help="check only these exercises")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="text (the default), json (as --json), or gradescope (Gradescope's results.json)")
    p.add_argument("--notebook", choices=NOTEBOOKS, help="which lesson notebook PATH answers (default: its file name)")
    p.add_argument("--verbose", action="store_true", help="show every feedback line")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    try:
        return _main(argv, time.monotonic() if started is None else started)
    finally:
        spawn.discard_warm()  # a child prestarted for a run that did not need it


def _main(argv: list[str] | None, started: float) -> int:
    args = parser().parse_args(argv)
    shape = "json" if args.json else (args.format or "text")
    show_progress = not args.quiet and shape == "text" and sys.stderr.isatty()

    def progress(line: str) -> None:
        print(f"\r\033[K{render.plain(line)} ...", end="", file=sys.stderr, flush=True)

    options = Options() if args.seed is None else Options(seed=args.seed)
    try:
        result = grade(args.path, notebook=args.notebook, only=args.only, options=options,
                       progress=progress if show_progress else None)
    except CheckerError as exc:
        print(f"checker: {exc}", file=sys.stderr)
        if shape == "gradescope":  # Gradescope shows results.json, not stderr: the reason goes there too
            from checker.gradescope import unreadable_json
            print(json.dumps(unreadable_json(str(exc), time.monotonic() - started), indent=1))
        return EXIT_UNREADABLE
    if show_progress:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    result.seconds = time.monotonic() - started
    if shape == "json":
        print(json.dumps(result.to_json()))
    elif shape == "gradescope":
        from checker.gradescope import results_json
        print(json.dumps(results_json(result), indent=1))
    else:
        print(render.text(result, verbose=args.verbose))
    return EXIT_PASSED if result.all_passed else EXIT_FAILED
