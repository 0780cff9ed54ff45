"""Unprivileged Linux namespaces and a pids cgroup: the layers added where the machine allows them.

A new user namespace lets an ordinary user create the others: an empty network namespace
(no route out, UDP included; only a private loopback), a PID namespace (host processes are
invisible and every process in it dies with its pid 1), a mount namespace (a private
``/proc`` showing only the jail's processes, and the student's files in a size-capped tmpfs)
and an IPC namespace. A pids cgroup, where one
is writable, caps how many processes and threads the jail may have (RLIMIT_NPROC does the
same for users other than root).
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import time

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
ALL = CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceError(OSError):
    """A namespace step failed: ``step`` says which."""

    def __init__(self, step: str, err: int):
        super().__init__(err, f"namespaces {step}: {os.strerror(err)}")
        self.step = step


def _check(step: str, result: int) -> None:
    if result != 0:
        raise NamespaceError(step, ctypes.get_errno())


def enter(uid: int, gid: int) -> None:
    """Unshare every namespace (the caller's next child is pid 1 of the new PID namespace)."""
    _check("unshare", _libc.unshare(ALL))
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    _check("private mounts", _libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None))
    loopback_up()


def loopback_up() -> None:
    """ipykernel binds an internal pipe on 127.0.0.1: the new network needs its loopback up."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def mount_proc() -> None:
    """In pid 1 of the new namespace: a /proc that shows only the jail's processes."""
    _check("mount /proc", _libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None))


def mount_scratch(folder: str, size: int) -> None:
    """In pid 1: ``folder`` becomes a tmpfs of ``size`` bytes for the whole jail (what was in it is copied in).
    Its pages count in the jail's memory cgroup too; the grader's disk never holds the student's files. Nothing
    written there can be mapped as machine code (``noexec``): a shared library a notebook writes out will not load."""
    kept: list[tuple[str, bytes | None]] = []
    for top, dirs, files in os.walk(folder):
        rel = os.path.relpath(top, folder)
        kept += [(os.path.join(rel, d), None) for d in dirs]
        for name in files:
            with open(os.path.join(top, name), "rb") as f:
                kept.append((os.path.join(rel, name), f.read()))
    options = f"size={size},mode=0700".encode()
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _check("mount the scratch tmpfs", _libc.mount(b"tmpfs", folder.encode(), b"tmpfs", flags, options))
    for rel, data in kept:
        path = os.path.normpath(os.path.join(folder, rel))
        if data is None:
            os.makedirs(path, exist_ok=True)
        else:
            with open(path, "wb") as f:
                f.write(data)


def die_with_parent(sig: int) -> None:
    _check("pdeathsig", _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0))
