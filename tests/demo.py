"""``make demo``: check the bundled example submissions and print what a student sees.

The examples are built from the reference solutions: a complete one for every notebook,
and a partial one (some exercises untouched, some wrong in the classic ways).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from checker.sandbox import template
from solutions.source import entry_sources
from tests.helpers import stub_of, submission
from instructor.authoring.wrong_answers import WRONG

NOTEBOOKS = ("01_matmul", "02_forward", "03_backprop", "04_modules")


def partial_replacements(notebook: str) -> dict[str, str]:
    sources = entry_sources(notebook)
    names = list(sources)
    replace = {name: stub_of(sources[name]) for name in names[len(names) // 2:]}
    for wrong in WRONG:  # one classic mistake per exercise in the first half
        if wrong.notebook == notebook and wrong.exercise in names[: len(names) // 2] and wrong.exercise not in replace:
            if set(wrong.replace) == {wrong.exercise}:
                replace.update(wrong.replace)
    return replace


def show(path: Path, title: str) -> None:
    print(f"\n=== {title}: python -m checker {path.name}\n", flush=True)
    proc = subprocess.run([sys.executable, "-m", "checker", str(path), "--quiet"], text=True, capture_output=True)
    print(proc.stdout.rstrip())
    print(f"(exit code {proc.returncode})", flush=True)


def main() -> None:
    # the eight checks fork their checker processes from one template: torch is imported once
    with template.running(say=lambda line: print(line, flush=True)), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        complete, partial = root / "complete", root / "partial"
        complete.mkdir()
        partial.mkdir()
        for notebook in NOTEBOOKS:
            show(submission(complete, notebook), f"complete {notebook}")
        for notebook in NOTEBOOKS:
            show(submission(partial, notebook, replace=partial_replacements(notebook)), f"partial {notebook}")


if __name__ == "__main__":
    main()
