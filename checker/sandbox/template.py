"""A template process that has imported torch, ipykernel and the child's code, and forks checker
children and notebook kernels.

Starting a checker child or a kernel costs about 2 s of CPU, nearly all of it ``import torch``. A
template imports it once and computes nothing (no torch op, no thread, no zmq context, no event
loop); each child is a fork of it (tens of milliseconds), which then does exactly what a freshly
started jail does (:func:`checker.sandbox.launcher.launch`): joins the jail's cgroup, enters new
namespaces, forks pid 1, confines itself and runs :func:`checker.sandbox.child.main` or
ipykernel's kernel app. Nothing a child does reaches the template or the next child: each is a
copy of the template's memory.

The template listens on an abstract UNIX socket: another network namespace (every jail has
one) cannot even see it, and Landlock's scoping (ABI 6+) refuses it from inside a jail. Each
request carries a secret token. The grader starts one per class (:func:`start`) and hands its
address to its nbgrader processes in ``$FOUNDATIONS_TEMPLATE``, which no jail inherits.
Where there is no template, or it died, :func:`fork_child` and :func:`fork_kernel` say so once and
children start fresh.

A child lives no longer than the one who asked for it: when a requester goes away (a grader killed
mid-grading, its time up), the template ends that child's whole session; when the template ends,
every child ends with it (``PR_SET_PDEATHSIG``; its jail's pid 1 has the same).
"""
from __future__ import annotations

import importlib
import json
import os
import secrets
import select
import signal
import socket
import struct
import subprocess
import sys
import time

ADDRESS_ENV = "FOUNDATIONS_TEMPLATE"  # "<abstract socket name> <token>"
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
START_SECONDS = 60.0
REAP_SECONDS = 0.05
CHECKER, KERNEL = "checker", "kernel"
FDS = {CHECKER: 3, KERNEL: 2}
KERNEL_MODULE = "ipykernel_launcher"
SESSION_SECONDS = 10.0
FALLBACK = "checker: {reason}; starting each checker process afresh (the same results, slower)"
# Imported once, for every fork. Each costs every child that needs it a second or so of CPU more
# than a fork: torch (the point of the template); a kernel's ipykernel, its debugger (which a kernel
# resolves at start) and matplotlib's pyplot (two of the four notebooks import it, in the kernel and
# in the checker child that runs the setup cell); and what torch imports at the first backward pass
# with an explicit gradient (sympy, through symbolic_shapes). Importing them computes nothing: no
# thread, no zmq context, no event loop, no figure (matplotlib's backend is chosen per child).
PRELOAD = ("torch", "torch.fx.experimental.symbolic_shapes", "ipykernel.ipkernel", "ipykernel.kernelapp",
           "ipykernel.zmqshell", "ipykernel.debugger", "matplotlib", "matplotlib.pyplot",
           "checker.sandbox.child", "checker.sandbox.launcher")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what ipykernel sets where MPLBACKEND is unset
# The token comes on stdin, never in argv or the environment: every forked child and kernel inherits those
# (``sys.argv``, ``/proc/self/cmdline``, ``os.environ``), and student code runs there.
BOOT = ("import sys; sys.path.insert(0, {lib!r}); from checker.sandbox.template import serve; "
        "serve(sys.argv[1], bytearray(sys.stdin.buffer.readline().strip()))")


class TemplateUnavailable(Exception):
    """No template to fork from; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def installation() -> str:
    """Which Python and checker a template serves: a client of another installation gets no fork."""
    from checker.sandbox import jail
    return f"{sys.executable} {jail.CHECKER_DIR}"


# -- the template's side ----------------------------------------------------------------------------
def thread_count() -> int:
    """This process's threads: forking is safe with one (a forked thread pool is broken)."""
    return len(os.listdir("/proc/self/task"))


def serve(name: str, token: bytearray) -> None:
    """Import, listen, and fork a confined child per request until the grader goes. ``token`` is a bytearray
    that every forked child overwrites before it runs anything: no child holds the secret."""
    from checker.sandbox import namespaces

    sys.stdin.close()
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)  # fd 0 again, for the children to inherit

    namespaces.die_with_parent(signal.SIGKILL)
    for module in PRELOAD:
        importlib.import_module(module)
    _reseed()  # numpy's first seeding from the OS imports what it needs: once here, not 0.2 s in every child

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(64)
    lib = sys.path[0]
    waiting: dict[int, socket.socket] = {}  # a running child's pid -> its requester's connection
    print("ready", flush=True)
    while True:
        requesters = {conn: pid for pid, conn in waiting.items()}
        readable, _, _ = select.select([listener, *requesters], [], [], REAP_SECONDS)
        for ready in readable:
            if ready is not listener:
                _orphaned(requesters[ready], waiting)
                continue
            conn, _ = listener.accept()
            try:
                pid = _fork_child(conn, token, lib, listener, waiting)
            except (OSError, ValueError, KeyError) as exc:
                _reply(conn, {"error": f"{type(exc).__name__}: {exc}"})
                conn.close()
                continue
            waiting[pid] = conn
        _reap(waiting)


def _orphaned(pid: int, waiting: dict[int, socket.socket]) -> None:
    """A requester sends nothing after its request: readable means it went away (killed, say, mid-grading).
    Its child goes too, whole session and jail, instead of running student code for no one."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    waiting.pop(pid).close()  # reaped as usual, with no one to tell


def _reply(conn: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode()
    conn.sendall(struct.pack("!I", len(data)) + data)


def enforced(policy: dict, lib: str) -> dict:
    """The jail a child gets: what the client asked, but never less confined than what this process itself
    finds on the machine, with the files it may read and write decided here (the client names only its
    scratch folder, which must be a jail's). A client that could reach the template gets no wider jail."""
    from checker.sandbox import cgroups, jail

    scratch = str(policy.get("scratch", ""))
    if not os.path.isdir(scratch) or not os.path.basename(scratch).startswith(jail.SCRATCH_PREFIX) or \
            os.path.dirname(scratch) != jail.scratch_base():
        raise ValueError(f"refused: {scratch!r} is not a jail's scratch folder")
    for path in policy.get("cgroups", []):
        if not str(path).startswith("/sys/fs/cgroup/") or not os.path.basename(str(path)).startswith(cgroups.PREFIX):
            raise ValueError(f"refused: {path!r} is not a jail's cgroup")
    layers = jail.available()
    namespaces = bool(policy.get("namespaces")) or layers.namespaces
    env = {k: str(v) for k, v in dict(policy.get("env", {})).items()}
    work = jail.work_folder(scratch)
    mine = {k: v for k, v in env.items() if v.startswith(work) or k in jail.CHILD_KEYS}  # its files, its threads
    return {**policy, "env": jail.clean_env(env, mine), "read": [*jail.read_paths(), lib],
            "write": [work, *jail.SYSTEM_WRITE], "sockets": [scratch], "cwd": work,
            "scratch_bytes": min(int(policy.get("scratch_bytes") or jail.MAX_SCRATCH), jail.MAX_SCRATCH),
            "landlock": max(int(policy.get("landlock") or 0), layers.landlock), "namespaces": namespaces,
            "restrict_tcp": bool(policy.get("restrict_tcp", True)) or not namespaces,
            "memory": min(int(policy.get("memory") or jail.MAX_MEMORY), jail.MAX_MEMORY),
            "fsize": min(int(policy.get("fsize") or jail.MAX_FILE), jail.MAX_FILE),
            "nproc": min(int(policy.get("nproc") or jail.NPROC), jail.NPROC)}


def _fork_child(conn, token: bytearray, lib: str, listener, waiting: dict) -> int:
    """A checker child (fds: to_child, from_child, log) or a kernel (fds: stdout, stderr, and argv)."""
    conn.settimeout(10)
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    request = json.loads(data.decode())
    kind = request.get("kind", CHECKER)
    try:
        if not secrets.compare_digest(str(request.get("token", "")).encode(), bytes(token)) or len(fds) != FDS[kind]:
            raise ValueError("refused: wrong token or file descriptors")
        if request.get("installation") != installation():
            raise ValueError(f"refused: it serves {installation()}, not {request.get('installation')}")
        if thread_count() != 1:  # unshare and Landlock need a single-threaded process
            raise ValueError(f"the template has {thread_count()} threads")
    except ValueError:
        for fd in fds:
            os.close(fd)
        raise
    try:
        policy = enforced(request["policy"], lib)
    except (ValueError, TypeError):
        for fd in fds:
            os.close(fd)
        raise
    started_r, started_w = os.pipe()
    template_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            token[:] = bytes(len(token))  # the secret is the template's, not its children's
            os.setsid()  # first: the grader kills the child's whole session, from the moment it has its pid
            from checker.sandbox import launcher, namespaces
            namespaces.die_with_parent(signal.SIGKILL)  # the template's end is the child's (and its jail's)
            if os.getppid() != template_pid:  # it ended before that was set
                os._exit(launcher.ORPHANED_EXIT)
            os.write(started_w, b"s")
            listener.close()
            conn.close()
            for other in waiting.values():
                other.close()
            if kind == CHECKER:
                to_child, from_child, log = fds
                os.dup2(log, 1)
                os.dup2(log, 2)
                _close_all_but({0, 1, 2, to_child, from_child})  # as Popen(close_fds=True) would
                _run_child(policy, lambda: _checker_child(to_child, from_child))
            else:
                out, err = fds
                os.dup2(out, 1)
                os.dup2(err, 2)
                _close_all_but({0, 1, 2})
                _run_child(policy, lambda: _kernel(request["argv"]))
        finally:
            os._exit(70)
    os.close(started_w)
    for fd in fds:
        os.close(fd)
    ready, _, _ = select.select([started_r], [], [], SESSION_SECONDS)
    started = os.read(started_r, 1) if ready else b""
    os.close(started_r)
    if started != b"s":  # it did not get as far as its own session: it must not run on unaccounted
        os.kill(pid, signal.SIGKILL)
    _reply(conn, {"pid": pid})
    return pid


def _reseed() -> None:
    import random
    random.seed()  # a fresh interpreter seeds from the OS; a fork would repeat the template's sequence
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()


def _matplotlib_backend(default: str) -> None:
    """matplotlib read ``$MPLBACKEND`` when the template imported it; a fresh interpreter would read the
    child's own (``default`` where it has none), before any figure exists."""
    import matplotlib
    matplotlib.rcParams["backend"] = os.environ.setdefault("MPLBACKEND", default)


def _checker_child(to_child: int, from_child: int) -> None:
    from checker.sandbox import child
    _reseed()
    _matplotlib_backend(child.MATPLOTLIB_BACKEND)  # as the child module does at its import
    child.main(to_child, from_child)


def _kernel(argv: list[str]) -> None:
    """What ``python -m ipykernel_launcher ARGV`` does, in the imported interpreter."""
    from ipykernel.kernelapp import IPKernelApp
    _reseed()
    _matplotlib_backend(INLINE_BACKEND)  # as the kernel app's start would set it, before any import of matplotlib
    # the traits read from the environment when ipykernel was imported (in the template) read it again
    parent = os.environ.get("JPY_PARENT_PID", "0")
    sys.argv = ["ipykernel_launcher", *argv, f"--IPKernelApp.parent_handle={parent}"]
    IPKernelApp.launch_instance()


def _close_all_but(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _run_child(policy: dict, target) -> None:
    from checker.sandbox import launcher

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    launcher.launch(policy, target)


def _reap(waiting: dict[int, socket.socket]) -> None:
    while True:  # every exited child, an orphaned one too (no longer waited for)
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = waiting.pop(pid, None)
        if conn is not None:
            try:
                _reply(conn, {"status": status})
            except OSError:
                pass
            conn.close()


# -- the grader's side --------------------------------------------------------------------------------
class Template:
    """A running template process (the grader's handle on it)."""

    def __init__(self, proc: subprocess.Popen, name: str, token: str):
        self.proc, self.name, self.token = proc, name, token

    @property
    def address(self) -> str:
        return f"{self.name} {self.token}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def start() -> Template:
    """Start a template (about the cost of one fresh child); raises TemplateUnavailable."""
    from checker.sandbox import jail

    name, token = f"foundations-template-{os.getpid()}-{secrets.token_hex(8)}", secrets.token_hex(16)
    env = {**jail.clean_env(dict(os.environ), {}), **THREAD_ENV, "CHECKER_IN_SANDBOX": "1", "MPLBACKEND": "Agg"}
    fonts = jail.matplotlib_cache()  # matplotlib's font list, built once per installation: read, never rebuilt
    if fonts:
        env["MPLCONFIGDIR"] = fonts
    proc = subprocess.Popen([sys.executable, "-E", "-P", "-c", BOOT.format(lib=jail._lib_dir()), name],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            cwd="/", start_new_session=True)
    proc.stdin.write(token.encode() + b"\n")
    proc.stdin.close()
    ready, _, _ = select.select([proc.stdout], [], [], START_SECONDS)
    line = proc.stdout.readline() if ready else b""
    if line.strip() != b"ready":
        proc.kill()
        proc.wait()
        raise TemplateUnavailable(f"the fork template did not start (exit {proc.returncode})")
    return Template(proc, name, token)


_told = False


def _say_once(reason: str) -> None:
    global _told
    if not _told:
        _told = True
        print(FALLBACK.format(reason=reason), file=sys.stderr)


def address() -> str | None:
    return os.environ.get(ADDRESS_ENV) or None


class ForkedProcess:
    """A child forked by the template, with the part of ``subprocess.Popen`` the sandbox uses."""

    stdin = stdout = stderr = None  # as a Popen without pipes: jupyter_client closes these when set

    def __init__(self, conn: socket.socket, pid: int):
        self.conn, self.pid, self.returncode = conn, pid, None

    def _read_status(self, timeout: float | None) -> None:
        self.conn.settimeout(timeout)
        try:
            header = _recv_exact(self.conn, 4)
            message = json.loads(_recv_exact(self.conn, struct.unpack("!I", header)[0]).decode())
            self.returncode = os.waitstatus_to_exitcode(message["status"])
        except (socket.timeout, BlockingIOError):
            return
        except (OSError, ValueError, KeyError, EOFError):
            self.returncode = -signal.SIGKILL  # the template died: so did its children (pdeathsig)
        self.conn.close()

    def poll(self) -> int | None:
        if self.returncode is None:
            self._read_status(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._read_status(timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired("forked checker child", timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError("the template closed the connection")
        data += chunk
    return data


def fork_child(policy: dict, to_child_r: int, from_child_w: int, log) -> ForkedProcess:
    """Ask the template for a checker child running in ``policy``'s jail; raises TemplateUnavailable."""
    return _ask({"kind": CHECKER, "policy": policy}, [to_child_r, from_child_w, log.fileno()])


def fork_kernel(policy: dict, argv: list[str], stdout: int = 1, stderr: int = 2) -> ForkedProcess:
    """Ask the template for a notebook kernel (``ipykernel_launcher ARGV``) in ``policy``'s jail."""
    return _ask({"kind": KERNEL, "policy": policy, "argv": list(argv)}, [stdout, stderr])


def _ask(request: dict, fds: list[int]) -> ForkedProcess:
    where = address()
    if where is None:
        raise TemplateUnavailable("no fork template")
    name, token = where.split(" ", 1)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(10)
        conn.connect("\0" + name)
        socket.send_fds(conn, [json.dumps({**request, "token": token, "installation": installation()}).encode()],
                        fds)
        header = _recv_exact(conn, 4)
        answer = json.loads(_recv_exact(conn, struct.unpack("!I", header)[0]).decode())
    except (OSError, EOFError, ValueError) as exc:
        conn.close()
        _say_once(f"the fork template is not answering ({type(exc).__name__}: {exc})")
        raise TemplateUnavailable(str(exc)) from None
    if "pid" not in answer:
        conn.close()
        _say_once(f"the fork template refused: {answer.get('error')}")
        raise TemplateUnavailable(str(answer.get("error")))
    return ForkedProcess(conn, int(answer["pid"]))


class running:
    """``with template.running(say):`` every checker child started here, and by the processes started
    here (nbgrader's, through ``$FOUNDATIONS_TEMPLATE``), is forked from one template; where none can
    start, ``say`` hears why once and children start afresh."""

    STARTED = "checker processes: forked from one template that imported torch once ({seconds:.1f} s to start)"

    def __init__(self, say=print):
        self.say = say
        self.template: Template | None = None
        self.previous: str | None = None

    def __enter__(self) -> "running":
        self.previous = os.environ.get(ADDRESS_ENV)
        started = time.monotonic()
        try:
            self.template = start()
        except (TemplateUnavailable, OSError) as exc:
            self.say(FALLBACK.format(reason=getattr(exc, "reason", str(exc))))
            return self
        os.environ[ADDRESS_ENV] = self.template.address
        self.say(self.STARTED.format(seconds=time.monotonic() - started))
        return self

    def __exit__(self, *exc) -> None:
        if self.template is not None:
            self.template.stop()
        if self.previous is None:
            os.environ.pop(ADDRESS_ENV, None)
        else:
            os.environ[ADDRESS_ENV] = self.previous
