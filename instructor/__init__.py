"""Instructor tools: build the course notebooks from the registry and the solutions, release, grade.

Instructors only: this package reads ``solutions/``, which students never receive.
"""

import os as _os
import sys as _sys


KIT_ROOT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))


def tool_env() -> dict:
    """The environment for nbgrader subprocesses: this Python's bin folder first on PATH (nbgrader
    runs ``alembic`` from PATH to create the gradebook), and this kit on PYTHONPATH, so that the
    course's nbgrader_config.py finds ``instructor`` wherever the course folder is. (Neither is
    installed; the jails that run student code drop PYTHONPATH.)"""
    env = dict(_os.environ)
    env["PATH"] = _os.path.dirname(_sys.executable) + _os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = _os.pathsep.join(p for p in (KIT_ROOT, env.get("PYTHONPATH", "")) if p)
    return env
