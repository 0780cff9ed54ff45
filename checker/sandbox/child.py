"""The child process: runs the student's cells, then the probes the parent asks for.

Started as ``python -m checker.sandbox.child IN_FD OUT_FD``. It decides nothing: it
sends back plain data. Before the first student cell runs, every tool it needs is
bound locally and the checker's modules are removed from ``sys.modules``, so that a
student's ``import checker...`` gets fresh copies whose patching reaches nothing here.
"""
from __future__ import annotations

import io
import linecache
import os
import sys
from _hashlib import hmac_digest as _hmac_digest  # C: nothing a notebook patches reaches it

MATPLOTLIB_BACKEND = "Agg"  # a checker process draws nothing anyone sees
os.environ["CHECKER_IN_SANDBOX"] = "1"
os.environ.setdefault("MPLBACKEND", MATPLOTLIB_BACKEND)

import torch  # noqa: E402

from checker.sandbox import protocol, scenarios, tripwire, wire  # noqa: E402
from checker.sandbox.magic_shim import MagicShim  # noqa: E402

_WireError = wire.WireError
_read = protocol.read_message  # its reading functions bound as it was defined (see checker.sandbox.protocol)
_run = scenarios.run
_describe = scenarios.describe_exception
_compile, _exec, _eval = compile, exec, eval

_pipe, _close, _os_read, _os_write, _exit, _waitpid, _kill, _getpid = (os.pipe, os.close, os.read, os.write, os._exit,
                                                                      os.waitpid, os.kill, os.getpid)
_signalled, _signal_of, _exited, _exit_code = os.WIFSIGNALED, os.WTERMSIG, os.WIFEXITED, os.WEXITSTATUS
_set_threads = torch.set_num_threads
_encode, _decode = wire.encode, wire.decode

OUTPUT_LIMIT = 4000
WHILE_CALLED = "while the checker called {name}"  # where a patch made during a call was found


class CappedText(io.TextIOBase):
    """Keeps the first OUTPUT_LIMIT characters written and counts the rest."""

    def __init__(self):
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = OUTPUT_LIMIT - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def text(self) -> str:
        out = "".join(self.parts)
        if self.dropped:
            out += f"\n... [{self.dropped} more characters of output not shown]"
        return out


def _hide_checker_modules():
    for name in list(sys.modules):
        if name == "checker" or name.startswith("checker.") or name == "solutions" or name.startswith("solutions."):
            del sys.modules[name]


def _captured(thunk):
    out, err = sys.stdout, sys.stderr
    capture = CappedText()
    sys.stdout = sys.stderr = capture
    try:
        return thunk(), capture.text()
    finally:
        sys.stdout, sys.stderr = out, err


def exec_cell(ns, index, source):
    name = f"<cell {index}>"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)

    def body():
        try:
            _exec(_compile(source, f"<cell {index}>", "exec"), ns)
            return None
        except BaseException as exc:  # noqa: BLE001 - a failing cell loses only itself
            return _describe(exc)

    error, output = _captured(body)
    return {"error": error, "output": output}


def in_a_copy(run, fork, drain, where: str) -> dict:
    """``run()`` (a probe: its answer and its output) in a copy of this process, made for it: whatever the call
    leaves behind (the shapes it met, a counter, a cache) goes with the copy, so each such call meets the student's
    code as the first one did (a rule that compares two calls cannot be told apart by a function that remembers).
    A copy that dies without an answer takes this process with it, the same way, as the call would have."""
    read_end, write_end = _pipe()
    pid = fork()
    if pid == 0:
        try:
            _close(read_end)
            _set_threads(1)  # torch's OpenMP pool does not survive a fork: one thread, as this process runs
            answer, output = run()
            answer["output"] = output
            refused = drain(where)
            if refused:
                answer["tampering"] = refused
            data = _encode(answer)
        except BaseException as exc:  # noqa: BLE001 - an answer that is not data is said, as the channel does
            data = _encode({"raised": _describe(exc)})
        view = memoryview(data)
        while view:
            view = view[_os_write(write_end, view):]
        _exit(0)
    _close(write_end)
    chunks = []
    while True:
        chunk = _os_read(read_end, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    _close(read_end)
    _, status = _waitpid(pid, 0)
    if chunks:
        return _decode(b"".join(chunks))
    if _signalled(status):
        _kill(_getpid(), _signal_of(status))
    _exit(_exit_code(status) if _exited(status) else 1)


def main(in_fd: int, out_fd: int) -> None:
    # the key comes first, before any student code: it stays in this frame (see checker.sandbox.protocol)
    answer_with = protocol.sealed_writer(out_fd, _read(in_fd)["key"], _hmac_digest)

    torch.set_num_threads(1)
    ns: dict = {"__name__": "__main__"}
    shim = MagicShim(ns)
    ns["get_ipython"] = shim.itself  # a method of a class whose module holds nothing of the checker's
    ours = [m for name, m in sys.modules.items() if name.startswith("checker.sandbox.") and m is not None]
    _hide_checker_modules()
    drain = tripwire.install(ours)  # for good, before any student code runs
    answer_with({"ready": True, "pid": os.getpid()})
    while True:
        try:
            request = _read(in_fd)
        except EOFError:
            return
        op = request["op"]
        if op == "exit":
            return
        if op == "exec_cell":
            answer = exec_cell(ns, request["index"], request["source"])
        elif op == "probe" and request.get("fresh"):
            answer = in_a_copy(lambda: _captured(lambda: _run(ns, request["scenario"], request["params"])),
                               drain.fork, drain, WHILE_CALLED.format(name=request["params"].get("target", "?")))
        elif op == "probe":
            answer, output = _captured(lambda: _run(ns, request["scenario"], request["params"]))
            answer["output"] = output
        elif op == "names":
            answer = {"names": sorted(k for k in ns if not k.startswith("_"))}
        else:
            answer = {"unknown_op": op}
        refused = drain(f"cell {request['index']}" if op == "exec_cell" else WHILE_CALLED.format(
            name=request.get("params", {}).get("target", "?")), timed=request.get("scenario") == "timed_call")
        if refused:
            answer["tampering"] = list(answer.get("tampering") or []) + refused
        try:
            answer_with(answer)
        except _WireError as exc:  # what came back holds something that is not data: said, not a dead process
            answer_with({"raised": _describe(exc), **({"tampering": refused} if refused else {})})


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
