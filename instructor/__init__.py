"""Instructor tools: build the course notebooks from the registry and the solutions, release, grade.

Instructors only: this package reads ``solutions/``, which students never receive.
"""

import os as _os
import sys as _sys


def tool_env() -> dict:
    """The environment for nbgrader subprocesses: this Python's bin folder first on PATH
    (nbgrader runs ``alembic`` from PATH to create the gradebook)."""
    env = dict(_os.environ)
    env["PATH"] = _os.path.dirname(_sys.executable) + _os.pathsep + env.get("PATH", "")
    return env
