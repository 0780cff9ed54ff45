"""Releasing the assignment: nbgrader generate_assignment, then a check that nothing leaked."""
from __future__ import annotations

from checker import course

import subprocess
from pathlib import Path

from instructor.grading import nbgrader_command
from instructor import tool_env
from instructor.authoring.notebooks import ROOT

RELEASE = ROOT / course.RELEASE_DIR / course.ASSIGNMENT
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN MARK SCHEME")


class ReleaseLeak(RuntimeError):
    """A released notebook still holds solution or hidden-test markers."""


def nbgrader(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    command = nbgrader_command.command(*args)  # nbgrader's command line, without its slowest imports
    return subprocess.run(command, cwd=cwd, check=check, text=True, capture_output=True, env=tool_env())


def leaks(folder: Path = RELEASE) -> list[str]:
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        text = path.read_text()
        found += [f"{path.name}: {marker}" for marker in LEAK_MARKERS if marker in text]
    return found


def release(root: Path = ROOT) -> list[Path]:
    """Regenerate release/foundations from source/foundations; raises ReleaseLeak if anything leaked."""
    proc = nbgrader("generate_assignment", course.ASSIGNMENT, "--force", cwd=root, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{proc.stdout}\n{proc.stderr}")
    folder = root / course.RELEASE_DIR / course.ASSIGNMENT
    problems = leaks(folder)
    if problems:
        raise ReleaseLeak("; ".join(problems))
    return sorted(folder.glob("*.ipynb"))
