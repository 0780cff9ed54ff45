"""One pre-imported nbgrader per grading lane, forking a worker per student.

``nbgrader autograde --student S`` as a fresh process costs about 2 s of CPU before it grades
anything: importing nbgrader, nbconvert, nbclient, jupyter_client, sqlalchemy and the course's
preprocessors. A host (``python -m instructor.grading.nbgrader_host``, one per parallel lane) imports all of
that once and computes nothing (no event loop, no database connection, no thread); for each
request it forks a worker that runs nbgrader's own command line for that student, its output in a
file, in its own session. The host waits for the worker (killing its session when time is up) and
answers with the exit code and the log, as ``subprocess.run`` would have.

Student code never runs here: the notebooks run in kernels, and the checks in checker children,
both confined (:mod:`checker.sandbox`). A worker is a copy of the host's memory, so nothing one
student's grading leaves behind reaches the next.

Protocol: one JSON line per request on the host's stdin, ``{"args": [...], "seconds": N}``, and one
JSON line per answer on its stdout, ``{"returncode": int, "log": str}``; the first line the host
writes is ``{"ready": true}`` (or ``{"ready": false, "reason": ...}``).
"""
from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import tempfile
import time

from checker.sandbox import template
from instructor.grading import nbgrader_command

READY_SECONDS = 60.0
ANSWER_MARGIN = 30.0  # beyond a request's own time limit, before the host itself counts as hung
STOPPED = "stopped after {seconds:.0f} s"
HOST_FAILED = "nbgrader host: {reason}; starting nbgrader afresh for each student (the same results, slower)"
HOST_STARTED = "nbgrader: one pre-imported process per lane ({lanes}), a fork per student ({seconds:.1f} s to start)"
# What an autograde run imports, so that no worker imports it again.
PRELOAD = (
    "nbgrader.apps.nbgraderapp", "nbgrader.apps.autogradeapp", "nbgrader.apps.generatefeedbackapp",
    "nbgrader.converters.autograde", "nbgrader.converters.generate_feedback", "nbgrader.preprocessors",
    "nbgrader.api", "nbconvert.exporters", "nbconvert.preprocessors", "nbclient", "jupyter_client.manager",
    "jupyter_client.provisioning", "sqlalchemy.dialects.sqlite", "instructor.grading.verdicts", "checker.sandbox.kernel",
    "nbconvert.exporters.html", "nbconvert.filters.markdown_mistune", "pygments.lexers.python",
    "pygments.formatters.html", "bs4", "instructor.grading.feedback_html",
    "torch.fx.experimental.symbolic_shapes",  # torch imports it at the checker's first backward pass with a gradient
)
# What an autograde run loads, once, before the forks: the digits 05_training's outcome check trains on (scikit-learn
# and its file: about 2 s a student otherwise)
WARM = ("checker.data.digits_split",)


# -- the host's side -----------------------------------------------------------------------------
def serve(requests=sys.stdin, answers=None) -> None:
    """Import once, then run one forked nbgrader per request line until stdin closes."""
    answers = answers or os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything printed by an import goes to stderr, never into the protocol
    # torch and numpy start a thread pool at import unless told one thread: a forked thread pool is
    # broken. The workers get the environment back for the kernels they start (none of them computes).
    saved = {name: os.environ.get(name) for name in template.THREAD_ENV}
    os.environ.update(template.THREAD_ENV)
    try:
        nbgrader_command.prepare()
        import importlib
        for module in PRELOAD:
            importlib.import_module(module)
        for dotted in WARM:
            module, name = dotted.rsplit(".", 1)
            getattr(importlib.import_module(module), name)()
        if template.thread_count() != 1:
            raise RuntimeError(f"after its imports the host has {template.thread_count()} threads; forking it is unsafe")
    except Exception as exc:  # noqa: BLE001 - any failure means: start nbgrader afresh instead
        _answer(answers, {"ready": False, "reason": f"{type(exc).__name__}: {exc}"})
        return
    _answer(answers, {"ready": True})
    for line in requests:
        try:
            request = json.loads(line)
            args, seconds = [str(a) for a in request["args"]], float(request["seconds"])
        except (ValueError, KeyError, TypeError) as exc:
            _answer(answers, {"returncode": 2, "log": f"nbgrader host: bad request ({exc})"})
            continue
        _answer(answers, _run(args, seconds, saved, requests, answers))


def _answer(stream, message: dict) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _run(args: list[str], seconds: float, environ: dict, *protocol) -> dict:
    with tempfile.TemporaryFile("w+b") as log:
        pid = os.fork()
        if pid == 0:
            _worker(args, log.fileno(), environ, protocol)
        returncode = _wait(pid, seconds)
        log.seek(0)
        text = log.read().decode(errors="replace")
    if returncode is None:
        return {"returncode": -1, "log": STOPPED.format(seconds=seconds) + "\n" + text}
    return {"returncode": returncode, "log": text}


def _worker(args: list[str], log: int, environ: dict, protocol) -> None:
    """In the fork: nbgrader's command line for one student, its output in ``log``."""
    code = 70
    try:
        os.setsid()  # the host kills the worker's whole session when its time is up
        for name, value in environ.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
        for stream in protocol:
            stream.close()
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        import random
        random.seed()
        from nbgrader.apps.nbgraderapp import main
        sys.argv = ["nbgrader", *args]
        try:
            code = main() or 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported in the log, as a crashed process would be
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        import logging
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _wait(pid: int, seconds: float) -> int | None:
    """The worker's exit code, or None after killing its session when ``seconds`` have passed."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], seconds)
        if not ready:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(pidfd)
    return os.waitstatus_to_exitcode(status) if ready else None


# -- the grader's side ---------------------------------------------------------------------------
class HostUnavailable(Exception):
    """No host to fork from; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Host:
    """A running host (the grader's handle): started here, serving once ``ready()`` returns. ``run`` is
    ``subprocess.run`` of one nbgrader command."""

    def __init__(self, cwd, env: dict):
        self.proc = subprocess.Popen([sys.executable, "-m", "instructor.grading.nbgrader_host"], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, start_new_session=True)

    def ready(self) -> None:
        """Wait until it has imported everything; raises HostUnavailable (and stops it) if it cannot serve."""
        ready, _, _ = select.select([self.proc.stdout], [], [], READY_SECONDS)
        hello = self._read() if ready else {}
        if not hello.get("ready"):
            self.stop()
            raise HostUnavailable(hello.get("reason") or (
                f"it exited (code {self.proc.returncode}) before it was ready" if ready
                else f"it was not ready after {READY_SECONDS:.0f} s"))

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        try:
            return json.loads(line) if line else {}
        except ValueError:
            return {}

    def run(self, args: list[str], seconds: float) -> tuple[int, str]:
        """(returncode, log); raises HostUnavailable if the host itself went away."""
        try:
            self.proc.stdin.write(json.dumps({"args": list(args), "seconds": seconds}) + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise HostUnavailable(f"it is gone ({exc})") from None
        ready, _, _ = select.select([self.proc.stdout], [], [], seconds + ANSWER_MARGIN)
        answer = self._read() if ready else {}
        if "returncode" not in answer:
            self.proc.kill()
            raise HostUnavailable(f"it stopped answering (exit {self.proc.poll()})")
        return int(answer["returncode"]), str(answer.get("log", ""))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class Lanes:
    """``lanes`` hosts shared by the grading threads: ``run(args, seconds)`` takes a free one, and where
    none could start, or one died, runs nbgrader afresh (``say`` hears why, once)."""

    def __init__(self, cwd, env: dict, lanes: int, say=print):
        self.cwd, self.env, self.say = cwd, env, say
        self.free: queue.Queue = queue.Queue()
        self._told = False
        started = time.monotonic()
        starting = []
        for _ in range(lanes):  # all at once: each imports on its own core
            try:
                starting.append(Host(cwd, env))
            except (HostUnavailable, OSError) as exc:
                self._fallback(getattr(exc, "reason", str(exc)))
                self.free.put(None)
        for host in starting:
            try:
                host.ready()
                self.free.put(host)
            except HostUnavailable as exc:
                self._fallback(exc.reason)
                self.free.put(None)
        if not self._told:
            say(HOST_STARTED.format(lanes=lanes, seconds=time.monotonic() - started))

    def _fallback(self, reason: str) -> None:
        if not self._told:
            self._told = True
            self.say(HOST_FAILED.format(reason=reason))

    def run(self, args: list[str], seconds: float) -> tuple[int, str]:
        host = self.free.get()
        try:
            if host is not None:
                try:
                    return host.run(args, seconds)
                except HostUnavailable as exc:
                    self._fallback(exc.reason)
                    host.stop()
                    host = None
            return _fresh(args, seconds, self.cwd, self.env)
        finally:
            self.free.put(host)

    def close(self) -> None:
        while not self.free.empty():
            host = self.free.get()
            if host is not None:
                host.stop()

    def __enter__(self) -> "Lanes":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fresh(args: list[str], seconds: float, cwd, env: dict) -> tuple[int, str]:
    """nbgrader ARGS as a process of its own (where there is no host)."""
    try:
        proc = subprocess.run(nbgrader_command.command(*args), cwd=cwd, capture_output=True, text=True,
                              timeout=seconds, env=env)
        return proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = [x.decode(errors="replace") if isinstance(x, bytes) else (x or "") for x in (exc.stdout, exc.stderr)]
        return -1, STOPPED.format(seconds=seconds) + "\n" + "".join(out)


if __name__ == "__main__":
    serve()
