"""Which versions of the packages whose internals the kit replaces it was tested with, and the fallback.

The kit replaces a few private pieces of nbgrader and nbconvert to save CPU (``instructor/grading/nbgrader_command.py``,
``instructor/grading/feedback_html.py``). Each replacement asks :func:`tested` first: on a version it was not tested
with, the package's own behaviour is kept (slower, never wrong) and the command says so once on stderr.
pyproject.toml bounds the same packages, so an install picks a tested version unless told otherwise.
"""
from __future__ import annotations

import importlib.metadata
import sys

TESTED = {"nbgrader": ("0.9.",), "nbconvert": ("7.16.", "7.17.")}
UNTESTED = ("{package} {version} is not a version the kit's speed-ups were tested with ({tested}): "
            "{package}'s own {what} is used instead")
_said: set[str] = set()


def version_of(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def tested(package: str, what: str) -> bool:
    """Whether the installed ``package`` is a version the replacement of its ``what`` was tested with; says once
    on stderr when it is not."""
    version = version_of(package)
    if version is not None and version.startswith(TESTED[package]):
        return True
    if package not in _said:
        _said.add(package)
        tested_with = ", ".join(f"{p}x" for p in TESTED[package])
        print(f"instructor: {UNTESTED.format(package=package, version=version, tested=tested_with, what=what)}",
              file=sys.stderr)
    return False
