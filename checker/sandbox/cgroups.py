"""A jail's cgroups: its process cap, its memory cap, and what the kernel counts for it, read from outside.

Student code can rewrite anything its own process measures (a timer, a trace), but not the kernel's
accounting of it. Each jail gets, where the machine lets this process make them, a ``cpuacct`` cgroup
(cgroup v1; under v2 the jail's one cgroup has ``cpu.stat``) whose usage covers every process and thread
of the jail, and a ``memory`` cgroup that caps the whole jail (all its processes, its memfds and its
tmpfs pages together) and records its peak. The grader reads them around each call it times.

Each jail is also one group of the scheduler (a v1 ``cpu`` cgroup; under v2 its one cgroup, where the parent
lets the ``cpu`` controller in): however many processes student code starts, the jail gets the CPU share of one
process, so a notebook that forks busy workers slows its own grading, not the student graded beside it.

Where there is no such cgroup, CPU time is the sum over the jail's processes the grader can see
(``/proc/PID/task/*/schedstat``, nanoseconds, every thread of the process that runs the student's code and
of its descendants), and the memory cap is the per-process ``RLIMIT_AS`` of the launcher.
"""
from __future__ import annotations

import os
import time
from typing import NamedTuple

PREFIX = "foundations-jail-"
PIDS, CPU, MEMORY, SHARE = "pids", "cpuacct", "memory", "cpu"


def _roots(controller: str) -> list[str]:
    """Where this process's cgroup is in the hierarchy that has ``controller`` (v1), else in the unified one."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    v1, v2 = [], []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            v1.append(os.path.join("/sys/fs/cgroup", controller, path.lstrip("/")))
        elif controllers == "":
            unified = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
            v2.append(os.path.join(unified, path.lstrip("/")))
    return v1 or v2


def sweep_stale(root: str) -> None:
    """Remove empty jail cgroups left by graders that are gone (killed before their cleanup)."""
    try:
        names = [n for n in os.listdir(root) if n.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        owner = name[len(PREFIX):].split("-")[0]
        if owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
            remove(os.path.join(root, name), wait=0)


def make(controller: str, settings: dict[str, str] | None = None) -> str | None:
    """A new cgroup of ``controller`` for one jail, with ``settings`` written into it; None where none can be."""
    for root in _roots(controller):
        if not os.path.exists(os.path.join(root, "cgroup.procs")):
            continue
        sweep_stale(root)
        path = os.path.join(root, f"{PREFIX}{os.getpid()}-{os.urandom(4).hex()}")
        try:
            os.mkdir(path)
        except OSError:
            continue
        try:
            for name, value in (settings or {}).items():
                with open(os.path.join(path, name), "w") as f:
                    f.write(value)
            return path
        except OSError:
            remove(path, wait=0)
    return None


def make_pids(max_tasks: int) -> str | None:
    """A cgroup capping a jail's processes and threads at ``max_tasks``."""
    return make(PIDS, {"pids.max": str(max_tasks)})


def is_unified(path: str | None) -> bool:
    """Whether a cgroup is in the unified (v2) hierarchy, where a process is in one cgroup for every controller."""
    if not path or not path.startswith("/sys/fs/cgroup/"):
        return bool(path)
    hierarchy = path[len("/sys/fs/cgroup/"):].split("/")[0]  # "cpu,cpuacct" where two controllers share a mount
    return not set(hierarchy.split(",")) & {PIDS, CPU, MEMORY, SHARE}


class JailCgroups(NamedTuple):
    """A jail's cgroups, each None where it cannot be had (the same path where one cgroup serves several)."""

    pids: str | None  # its process cap
    cpu: str | None  # what the kernel counts of its CPU time
    memory: str | None  # one memory cap for all its processes
    share: str | None  # one group of the scheduler

    def distinct(self) -> list[str]:
        return list(dict.fromkeys(p for p in self if p))


def for_jail(max_tasks: int | None, memory_bytes: int) -> JailCgroups:
    """A jail's cgroups. Under v1, one cgroup per controller; under v2 (a process belongs to one cgroup) a single one
    serves them all, since joining a second would take the jail out of the first."""
    pids = make_pids(max_tasks) if max_tasks else None
    cpu = make(CPU) if not is_unified(pids) else pids
    if is_unified(cpu):  # with no process cap (none asked, or none settable) the one cgroup counts and caps memory
        memory = cpu if _write(cpu, "memory.max", str(memory_bytes)) else None
        return JailCgroups(pids, cpu, memory, cpu if cpu and _scheduled_apart(cpu) else None)
    return JailCgroups(pids, cpu, make_memory(memory_bytes), make_share(cpu))


def make_share(cpu: str | None) -> str | None:
    """A v1 ``cpu`` cgroup for one jail: its processes share one process's weight. Where ``cpu`` and ``cpuacct`` are
    one hierarchy, the accounting cgroup already is that group (a second one would take the jail out of it)."""
    roots = _roots(SHARE)
    if cpu and roots and os.path.realpath(os.path.dirname(cpu)) == os.path.realpath(roots[0]):
        return cpu
    return make(SHARE)


def _scheduled_apart(path: str) -> bool:
    """Under v2: whether the jail's cgroup is a group of the scheduler (its parent lets the cpu controller in)."""
    parent = os.path.dirname(path)
    enabled = (_read(os.path.join(parent, "cgroup.subtree_control")) or "").split()
    return "cpu" in enabled or _write(parent, "cgroup.subtree_control", "+cpu")


def _write(path: str, name: str, value: str) -> bool:
    try:
        with open(os.path.join(path, name), "w") as f:
            f.write(value)
        return True
    except OSError:
        return False


def make_memory(limit_bytes: int) -> str | None:
    """A memory cgroup capping a whole jail at ``limit_bytes`` (v1 ``memory.limit_in_bytes``, v2 ``memory.max``)."""
    roots = _roots(MEMORY)
    if roots and os.path.exists(os.path.join(roots[0], "memory.limit_in_bytes")):
        return make(MEMORY, {"memory.limit_in_bytes": str(limit_bytes)})
    return make(MEMORY, {"memory.max": str(limit_bytes)})


def join(path: str) -> None:
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))


def remove(path: str | None, wait: float = 2.0) -> bool:
    """Remove a jail's cgroup once its last task has gone (killed tasks take a moment to be reaped)."""
    if not path:
        return True
    deadline = time.monotonic() + wait
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def cgroup_cpu_seconds(path: str) -> float | None:
    text = _read(os.path.join(path, "cpuacct.usage"))
    if text is not None:
        return int(text) / 1e9
    text = _read(os.path.join(path, "cpu.stat"))
    for line in (text or "").splitlines():
        if line.startswith("usage_usec "):
            return int(line.split()[1]) / 1e6
    return None


def _children(pid: int) -> list[int]:
    out = []
    for tid in _tasks(pid):
        text = _read(f"/proc/{pid}/task/{tid}/children") or ""
        out += [int(c) for c in text.split()]
    return out


def _tasks(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid``, its threads and its descendants' (those alive now), from the scheduler's counters."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for tid in _tasks(current):
            text = _read(f"/proc/{current}/task/{tid}/schedstat")
            if text:
                total += int(text.split()[0])
        todo += _children(current)
    return total / 1e9


def _first_number(path: str, names: tuple[str, ...]) -> int | None:
    """The first of the files ``names`` (v1's, then v2's) in the cgroup at ``path`` that holds a number."""
    for name in names:
        text = _read(os.path.join(path, name))
        if text is not None and text.strip().isdigit():
            return int(text)
    return None


def memory_usage_bytes(path: str) -> int | None:
    """What the jail holds now (its processes' memory, its tmpfs pages, the page cache charged to it)."""
    return _first_number(path, ("memory.usage_in_bytes", "memory.current"))


def memory_peak_bytes(path: str) -> int | None:
    return _first_number(path, ("memory.max_usage_in_bytes", "memory.peak"))


def reset_memory_peak(path: str) -> bool:
    for name in ("memory.max_usage_in_bytes", "memory.peak"):
        try:
            with open(os.path.join(path, name), "w") as f:
                f.write("0")
            return True
        except OSError:
            continue
    return False
