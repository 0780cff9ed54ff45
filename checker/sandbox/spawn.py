"""Starting the checker's child in its jail, without importing torch in the parent.

Importing torch takes over a second, in the parent and in the child alike. The CLI calls
:func:`prestart` before it imports anything heavy, so that the child imports torch on
the other core while the parent does; the first :class:`~checker.sandbox.runner.Sandbox`
with the same limits then takes that child instead of starting one.

Every child runs in a :class:`~checker.sandbox.jail.Jail` of its own: a fresh scratch folder
as its working directory and home, and whatever confinement layers this machine offers.
"""
from __future__ import annotations

import dataclasses
import subprocess
import tempfile

from checker.sandbox import jail, template

CHILD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "CHECKER_IN_SANDBOX": "1"}
CHILD_CODE = "from checker.sandbox.child import main; main({in_fd}, {out_fd})"


@dataclasses.dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 * 2**30
    cell_seconds: float = 20.0
    load_seconds: float = 90.0
    output_file_bytes: int = 64 * 2**20


@dataclasses.dataclass
class Child:
    """A started child: its process, the two pipe ends the parent keeps, its output log and its jail."""
    proc: subprocess.Popen  # or a template.ForkedProcess, which answers the same calls
    to_child: int
    from_child: int
    log: object  # a binary temporary file holding the child's stdout and stderr
    limits: Limits
    jail: jail.Jail


def spawn(limits: Limits, log=None) -> Child:
    """Start a child in a new jail; its stdout and stderr go to ``log`` (a new temporary file when None)."""
    import os

    box = jail.Jail(jail.ResourceLimits(limits.memory_bytes, limits.output_file_bytes), extra_env=CHILD_ENV)
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    log = log if log is not None else tempfile.TemporaryFile()
    try:
        proc = _forked(box, to_child_r, from_child_w, log) or subprocess.Popen(
            box.command(["-c", CHILD_CODE.format(in_fd=to_child_r, out_fd=from_child_w)]),
            pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            cwd=box.scratch, env=box.env, start_new_session=True,
        )
    except BaseException:
        box.cleanup()
        raise
    finally:
        os.close(to_child_r)
        os.close(from_child_w)
    return Child(proc, to_child_w, from_child_r, log, limits, box)


def _forked(box: jail.Jail, to_child_r: int, from_child_w: int, log):
    """A child forked by the class's template (see checker.sandbox.template), or None: start one afresh."""
    if template.address() is None:
        return None
    try:
        return template.fork_child(box.policy(), to_child_r, from_child_w, log)
    except template.TemplateUnavailable:
        return None


_warm: Child | None = None


def prestart(limits: Limits = Limits()) -> None:
    """Start a child now; the first sandbox that needs one with these limits takes it."""
    global _warm
    discard_warm()
    _warm = spawn(limits)


def take(limits: Limits) -> Child:
    """The prestarted child when it fits (same limits, still running), else a new one."""
    global _warm
    warm, _warm = _warm, None
    if warm is not None and warm.limits == limits and warm.proc.poll() is None:
        return warm
    if warm is not None:
        _discard(warm)
    return spawn(limits)


def discard_warm() -> None:
    global _warm
    warm, _warm = _warm, None
    if warm is not None:
        _discard(warm)


def _discard(child: Child) -> None:
    kill(child)
    child.log.close()


def kill(child: Child) -> None:
    """Kill the child's whole jail (every process it started), close its pipes, remove its scratch."""
    import os

    child.jail.kill(child.proc)
    child.jail.cleanup()
    for fd in (child.to_child, child.from_child):
        try:
            os.close(fd)
        except OSError:
            pass
