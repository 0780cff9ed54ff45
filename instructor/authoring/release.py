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


# nbgrader's own words when a notebook is added to or removed from an assignment that has submissions
NBGRADER_HAS_SUBMISSIONS = "because there are submissions associated with it"
HAS_SUBMISSIONS = ("nbgrader will not add or remove a notebook of `{assignment}` while its gradebook ({gradebook}) "
                   "holds submissions: the notebooks are {notebooks} now. Either release the new notebook as an "
                   "assignment of its own, or, before the term's grading starts, move the gradebook aside (its "
                   "grades are lost to nbgrader) and release again")
NBGRADER_FAILED = "nbgrader generate_assignment failed:\n{output}"


class ReleaseFailed(RuntimeError):
    """nbgrader could not generate the release; ``reason`` says why in words an instructor can act on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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
        output = f"{proc.stdout}\n{proc.stderr}"
        if NBGRADER_HAS_SUBMISSIONS in output:
            notebooks = sorted(p.stem for p in (root / course.SOURCE_DIR / course.ASSIGNMENT).glob("*.ipynb"))
            raise ReleaseFailed(HAS_SUBMISSIONS.format(assignment=course.ASSIGNMENT, notebooks=", ".join(notebooks),
                                                       gradebook=course.GRADEBOOK_FILE))
        raise ReleaseFailed(NBGRADER_FAILED.format(output=output.strip()[-3000:]))
    folder = root / course.RELEASE_DIR / course.ASSIGNMENT
    problems = leaks(folder)
    if problems:
        raise ReleaseLeak("; ".join(problems))
    return sorted(folder.glob("*.ipynb"))
