"""Starting the child process, without importing torch in the parent.

Importing torch takes over a second, in the parent and in the child alike. The CLI calls
:func:`prestart` before it imports anything heavy, so that the child imports torch on
the other core while the parent does; the first :class:`~checker.sandbox.runner.Sandbox`
for the same folder and limits then takes that child instead of starting one.
"""
from __future__ import annotations

import dataclasses
import os
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKER_ROOT = str(Path(__file__).resolve().parents[2])
BOOTSTRAP = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from checker.sandbox.child import main; "
    "sys.path.append({workdir!r}); main({in_fd}, {out_fd})"
)


@dataclasses.dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 * 2**30
    cell_seconds: float = 20.0
    load_seconds: float = 90.0
    output_file_bytes: int = 64 * 2**20


@dataclasses.dataclass
class Child:
    """A started child: its process, the two pipe ends the parent keeps, and its output log."""
    proc: subprocess.Popen
    to_child: int
    from_child: int
    log: object  # a binary temporary file holding the child's stdout and stderr
    workdir: str
    limits: Limits


def spawn(workdir: str, limits: Limits, log=None) -> Child:
    """Start a child; its stdout and stderr go to ``log`` (a new temporary file when None)."""
    def limit_resources():  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_file_bytes, limits.output_file_bytes))

    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONDONTWRITEBYTECODE="1")
    code = BOOTSTRAP.format(root=CHECKER_ROOT, workdir=workdir, in_fd=to_child_r, out_fd=from_child_w)
    log = log if log is not None else tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", code],
        pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        cwd=workdir, env=env, start_new_session=True, preexec_fn=limit_resources,
    )
    os.close(to_child_r)
    os.close(from_child_w)
    return Child(proc, to_child_w, from_child_r, log, workdir, limits)


_warm: Child | None = None


def prestart(workdir: str | os.PathLike, limits: Limits = Limits()) -> None:
    """Start a child for ``workdir`` now; the first sandbox that needs one like it takes it."""
    global _warm
    discard_warm()
    _warm = spawn(str(workdir), limits)


def take(workdir: str, limits: Limits) -> Child:
    """The prestarted child when it fits (same folder, same limits, still running), else a new one."""
    global _warm
    warm, _warm = _warm, None
    if warm is not None and warm.workdir == workdir and warm.limits == limits and warm.proc.poll() is None:
        return warm
    if warm is not None:
        _discard(warm)
    return spawn(workdir, limits)


def discard_warm() -> None:
    global _warm
    warm, _warm = _warm, None
    if warm is not None:
        _discard(warm)


def _discard(child: Child) -> None:
    kill(child.proc, (child.to_child, child.from_child))
    child.log.close()


def kill(proc: subprocess.Popen, fds: tuple[int, ...]) -> None:
    """Kill the child's whole session (it may have started processes of its own) and close its pipes."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
