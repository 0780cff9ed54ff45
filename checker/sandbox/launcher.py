"""The jail's launcher: the new process that confines itself, then runs student code.

Started as ``python -E -P -c BOOT POLICY -- TARGET...`` (no PYTHONPATH, no current folder) by
:class:`checker.sandbox.jail.Jail`. It joins the jail's pids cgroup, enters the namespaces, forks
pid 1 of the new PID namespace (which only reaps and relays the exit status), and the process
below it sets its limits, confines itself while it still has a single thread, and runs the target
(``-m module``, ``-c code`` or ``-x program``) in the same interpreter. It imports as little as it
can: every module here is paid for at every start.

The launcher waits for the jail and watches the process that started it (``policy["parent"]``): when
that one is gone (a grader killed, a terminal closed), the launcher kills pid 1, and with it every
process of the jail. ``PR_SET_PDEATHSIG`` cannot say this: it fires when the *thread* that started
the launcher ends, and the checker starts children from a pool of threads. (A child forked by the
template is watched by the template instead.)
"""
from __future__ import annotations

import json
import os
import signal
import struct
import sys

JAIL_FAILED_EXIT = 121
ORPHANED_EXIT = 122  # the process that started the jail is gone: the jail was ended
PARENT_POLL_SECONDS = 0.5
PROC_FILES = ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/self")


def _limit(policy: dict) -> None:
    import resource

    for which, value in ((resource.RLIMIT_AS, policy["memory"]), (resource.RLIMIT_CORE, 0),
                         (resource.RLIMIT_FSIZE, policy["fsize"]), (resource.RLIMIT_NPROC, policy["nproc"])):
        if value is not None:
            resource.setrlimit(which, (value, value))


def _confine(policy: dict) -> None:
    """In the process that becomes the student's: scratch, limits, landlock, environment."""
    from checker.sandbox import landlock

    os.chdir(policy["cwd"])
    _limit(policy)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if policy["landlock"]:
        read = list(policy["read"])
        read += ["/proc"] if policy["namespaces"] else list(PROC_FILES)
        landlock.restrict(landlock.Rules(read=read, write=policy["write"], restrict_tcp=policy["restrict_tcp"],
                                         sockets=policy.get("sockets", ())), policy["landlock"])
    os.environ.clear()
    os.environ.update(policy["env"])


def _run_target(policy: dict, target) -> None:
    """Confine, run the target, and leave as Python would; never runs anything unconfined.
    ``target`` is an argv (``-m``/``-c``/``-x``) or, in a child forked by the template, a function."""
    import atexit as _atexit
    import traceback

    try:
        _confine(policy)
    except OSError as exc:
        print(f"jail: {exc}", file=sys.stderr)
        os._exit(JAIL_FAILED_EXIT)
    code = 0
    try:
        if callable(target):
            target()
        elif target[0] == "-m":
            import runpy

            sys.argv = [target[1], *target[2:]]
            runpy.run_module(target[1], run_name="__main__", alter_sys=True)
        elif target[0] == "-c":
            sys.argv = ["-c", *target[2:]]
            exec(compile(target[1], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102 - our own code
        elif target[0] == "-x":
            os.execvp(target[1], target[1:])
        else:
            print(f"jail: unknown target {target[:1]}", file=sys.stderr)
            code = JAIL_FAILED_EXIT
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - as the interpreter would report it
        traceback.print_exc()
        code = 1
    _atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    os._exit(code)


def _relay(status: int) -> None:
    """Leave with the same status as the jailed process (a signal is raised again)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else 128 + os.WTERMSIG(status))


def _init(policy: dict, target: list[str], report: int) -> None:
    """Pid 1 of the jail's PID namespace: mount /proc, start the target, reap, relay its status."""
    from checker.sandbox import namespaces

    namespaces.die_with_parent(signal.SIGKILL)
    namespaces.mount_proc()
    if policy.get("scratch_bytes"):
        namespaces.mount_scratch(policy["cwd"], int(policy["scratch_bytes"]))
    child = os.fork()
    if child == 0:
        os.close(report)
        _run_target(policy, target)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == child:
            os.write(report, struct.pack("!i", status))
            os._exit(0)  # every other process in the namespace dies with pid 1


def main(argv: list[str]) -> None:
    policy = json.loads(argv[0])
    launch(policy, argv[2:], parent=policy.get("parent"))


def _report_or_orphaned(read: int, init: int, parent: int | None) -> bytes:
    """The jailed process's status from pid 1; if ``parent`` goes first, pid 1 is killed and this ends."""
    import select

    while True:
        if parent is not None and os.getppid() != parent:
            os.kill(init, signal.SIGKILL)
            os._exit(ORPHANED_EXIT)
        ready, _, _ = select.select([read], [], [], PARENT_POLL_SECONDS)
        if ready:
            data = b""
            while len(data) < 4:
                chunk = os.read(read, 4 - len(data))
                if not chunk:
                    break
                data += chunk
            return data


def launch(policy: dict, target, parent: int | None = None) -> None:
    """Put this process in the jail ``policy`` describes and run ``target`` there; never returns.
    With ``parent`` (the pid of the process that started this one), the jail ends when that process does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is for the kernel below, not the launcher
    for path in policy.get("cgroups", []):
        from checker.sandbox import cgroups
        try:
            cgroups.join(path)
        except OSError as exc:
            print(f"jail: cannot join the cgroup {path}: {exc}", file=sys.stderr)
            os._exit(JAIL_FAILED_EXIT)
    if not policy["namespaces"]:
        _run_target(policy, target)  # leaves with os._exit
    from checker.sandbox import namespaces
    try:
        namespaces.enter(policy["uid"], policy["gid"])
    except OSError as exc:
        print(f"jail: {exc}", file=sys.stderr)
        os._exit(JAIL_FAILED_EXIT)
    read, write = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(read)
        try:
            _init(policy, target, write)
        except BaseException as exc:  # noqa: BLE001
            print(f"jail: {exc}", file=sys.stderr)
            os._exit(JAIL_FAILED_EXIT)
    os.close(write)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(init, signal.SIGKILL) or os._exit(128 + signal.SIGTERM))
    data = _report_or_orphaned(read, init, parent)
    os.close(read)
    _, init_status = os.waitpid(init, 0)
    _relay(struct.unpack("!i", data)[0] if len(data) == 4 else init_status)
