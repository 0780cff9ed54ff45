"""Landlock, the Linux security module a process uses to restrict itself (kernel 5.13+).

About sixty lines of ctypes instead of the alpha PyPI package: three system calls
(create a ruleset, add a rule, restrict the calling thread), ``PR_SET_NO_NEW_PRIVS``, and
three small structs. A domain binds the calling thread and everything it forks or execs
afterwards, so :func:`restrict` must run while the process has a single thread.

What is *handled* is denied unless a rule allows it: every file right this kernel knows,
TCP bind and connect (ABI 4+), abstract UNIX sockets and signals outside the domain (ABI 6+).
"""
from __future__ import annotations

import ctypes
import os
import sys

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # x86-64 and arm64 alike
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS = 38

# file rights, by the ABI that introduced them
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_ONLY_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

READ = EXECUTE | READ_FILE | READ_DIR
WRITE = READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO | MAKE_SYM \
    | REFER | TRUNCATE

SOCKETS = READ | MAKE_SOCK | REMOVE_FILE  # a folder where a process binds UNIX sockets, and writes nothing else

BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


class LandlockError(OSError):
    """A Landlock call failed: ``step`` says which, ``errno`` why."""

    def __init__(self, step: str, err: int):
        super().__init__(err, f"landlock {step}: {os.strerror(err)}")
        self.step = step


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _call(step: str, *args) -> int:
    ctypes.set_errno(0)
    result = _libc.syscall(*args)
    if result < 0:
        raise LandlockError(step, ctypes.get_errno())
    return result


def abi() -> int:
    """The Landlock ABI this kernel offers, 0 when it has none (or another OS)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        return _call("version", SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except LandlockError:
        return 0


def fs_rights(version: int) -> int:
    return FS_RIGHTS_BY_ABI[max(v for v in FS_RIGHTS_BY_ABI if v <= version)]


class Rules:
    """What stays allowed: paths readable, paths writable, folders for UNIX sockets, TCP ports that may be bound.
    (A plain class: the launcher imports this module at every start, and dataclasses costs 10 ms.)"""

    def __init__(self, read=(), write=(), bind_ports=(), restrict_tcp: bool = True, sockets=()):
        self.read, self.write, self.bind_ports = list(read), list(write), list(bind_ports)
        self.sockets = list(sockets)
        self.restrict_tcp = restrict_tcp


def restrict(rules: Rules, version: int | None = None) -> int:
    """Confine this thread and its future children to ``rules``; returns the ABI used.

    Paths that do not exist are skipped (a library folder another system lacks). Raises
    LandlockError when the kernel has no Landlock or refuses a step.
    """
    version = abi() if version is None else version
    if version < 1:
        raise LandlockError("version", 95)  # EOPNOTSUPP
    handled = fs_rights(version)
    attr = RulesetAttr(handled, 0, 0)
    if version >= 4 and rules.restrict_tcp:
        attr.handled_access_net = BIND_TCP | CONNECT_TCP
    if version >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    size = ctypes.sizeof(RulesetAttr) if version >= 6 else (16 if version >= 4 else 8)
    ruleset = _call("create_ruleset", SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        for paths, rights in ((rules.read, READ), (rules.write, WRITE), (rules.sockets, SOCKETS)):
            for path in paths:
                _allow_path(ruleset, path, rights & handled)
        if attr.handled_access_net:
            for port in rules.bind_ports:
                rule = NetPortAttr(BIND_TCP, port)
                _call("add_rule", SYS_ADD_RULE, ruleset, RULE_NET_PORT, ctypes.byref(rule), ctypes.c_uint32(0))
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError("no_new_privs", ctypes.get_errno())
        _call("restrict_self", SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return version


def _allow_path(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_ONLY_RIGHTS
        rule = PathBeneathAttr(rights, fd)
        _call("add_rule", SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)
