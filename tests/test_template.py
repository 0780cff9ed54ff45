"""Checker children forked from one template: the same verdicts, and no student reaches the next one.

A template imports torch once and forks every checker child (checker/sandbox/template.py). A
student who patches torch, builtins or the checker in her child changes nothing for the student
forked after her; a child cannot reach the template; a dead or hung child costs only its own
exercise; a template that is gone means fresh processes, said once, with the same verdicts.
"""
from __future__ import annotations

import os

import pytest

from checker import errors
from checker.grading import Options, grade
from checker.sandbox import template
from checker.sandbox.runner import Limits, Sandbox
from tests.helpers import matches, submission

FAST = Options(limits=Limits(cell_seconds=5.0))
ONLY = ["matmul_broadcast", "outer", "frobenius_norm"]
WRONG_OUTER = "def outer(u, v):\n    return u[None, :] * v[:, None]"
TAMPER = """
import builtins, torch, sys
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.__matmul__ = lambda a, b: torch.zeros(a.shape[0], b.shape[-1])
builtins.sum = lambda *a, **k: 0
for name, module in list(sys.modules.items()):
    if name.startswith("checker"):
        for attr in dir(module):
            if callable(getattr(module, attr, None)) and not attr.startswith("__"):
                try:
                    setattr(module, attr, lambda *a, **k: {"result": None})
                except Exception:
                    pass
"""


@pytest.fixture(scope="module")
def forked():
    with template.running(say=lambda line: None) as run:
        if run.template is None:
            pytest.skip("no fork template on this machine")
        yield run.template


def verdicts(tmp_path, name: str, **kw) -> dict[str, str]:
    folder = tmp_path / name
    folder.mkdir()
    result = grade(submission(folder, "01_matmul", **kw), only=ONLY, options=FAST)
    return {e.name: e.status for e in result.exercises}


def test_a_forked_child_gives_the_verdicts_of_a_fresh_one(tmp_path, forked):
    with_template = verdicts(tmp_path, "forked", replace={"outer": WRONG_OUTER})
    saved = os.environ.pop(template.ADDRESS_ENV)  # the module's template (the fixture set it)
    try:
        fresh = verdicts(tmp_path, "fresh", replace={"outer": WRONG_OUTER})
    finally:
        os.environ[template.ADDRESS_ENV] = saved
    assert with_template == fresh == {"matmul_broadcast": "passed", "outer": "failed", "frobenius_norm": "passed"}


@pytest.mark.parametrize("order", ["tampering first", "honest first"])
def test_a_tampering_student_changes_nothing_for_the_next_one(tmp_path, forked, order):
    honest = {"matmul_broadcast": "passed", "outer": "failed", "frobenius_norm": "passed"}
    students = [("tamper", dict(replace={"outer": WRONG_OUTER}, extra_cells=[TAMPER])),
                ("honest", dict(replace={"outer": WRONG_OUTER}))]
    if order == "honest first":
        students.reverse()
    got = {name: verdicts(tmp_path, name, **kw) for name, kw in students}
    assert got["honest"] == honest
    assert got["tamper"]["outer"] == "failed"  # her patches did not make her wrong answer pass


def test_a_child_cannot_reach_the_template(forked):
    name = forked.name
    probe = ("import socket\ns = socket.socket(socket.AF_UNIX)\n"
             f"try:\n    s.connect('\\0{name}')\n    print('REACHED')\nexcept OSError as e:\n    print('REFUSED', e)\n"
             "print('LISTED' if 'foundations-template' in open('/proc/net/unix').read() else 'UNLISTED')")
    with Sandbox([(0, probe)], Limits(cell_seconds=5.0)) as box:
        report = box.load()[0]
    assert "REFUSED" in report.output and "UNLISTED" in report.output, report.output
    assert forked.proc.poll() is None


def test_a_dead_or_hung_child_costs_only_its_own_exercise(tmp_path, forked):
    folder = tmp_path / "hostile"
    folder.mkdir()
    result = grade(submission(folder, "01_matmul", replace={
        "outer": "def outer(u, v):\n    import os\n    os._exit(3)",
        "frobenius_norm": "def frobenius_norm(m):\n    while True:\n        pass"}), only=ONLY, options=FAST)
    got = {e.name: e for e in result.exercises}
    assert got["matmul_broadcast"].status == "passed"
    assert got["outer"].status == "error" and matches(errors.CHILD_DIED, got["outer"].feedback)
    assert got["frobenius_norm"].status == "error" and matches(errors.PROBE_TIMEOUT, got["frobenius_norm"].feedback)
    assert forked.proc.poll() is None


def test_without_a_template_children_start_fresh_and_it_is_said_once(tmp_path, capfd):
    template._told = False
    previous = os.environ.get(template.ADDRESS_ENV)
    os.environ[template.ADDRESS_ENV] = "foundations-template-gone 0000"
    try:
        first = verdicts(tmp_path, "a", replace={"outer": WRONG_OUTER})
        second = verdicts(tmp_path, "b")
    finally:
        os.environ.pop(template.ADDRESS_ENV, None)
        if previous is not None:
            os.environ[template.ADDRESS_ENV] = previous
    assert first["outer"] == "failed" and second["outer"] == "passed"
    said = capfd.readouterr().err
    assert said.count("starting each checker process afresh") == 1, said


def test_a_client_of_another_installation_gets_no_fork(forked, monkeypatch, tmp_path):
    import os as _os
    from checker.sandbox import jail

    monkeypatch.setattr(template, "installation", lambda: "/elsewhere/python /elsewhere/checker")
    monkeypatch.setattr(template, "_told", True)  # quiet: the refusal is the point here
    box = jail.Jail()
    read, write = _os.pipe()
    try:
        with open(tmp_path / "log", "wb") as log, pytest.raises(template.TemplateUnavailable, match="refused"):
            template.fork_child(box.policy(), read, write, log)
    finally:
        _os.close(read)
        _os.close(write)
        box.cleanup()


TAMPER_KERNEL = ("import torch, builtins\ntorch.allclose = lambda *a, **k: True\n"
                 "torch.Tensor.__matmul__ = lambda a, b: 0\nbuiltins.sum = lambda *a, **k: 0\nprint('tampered')")
PRISTINE = ("import torch, builtins\nprint(torch.allclose(torch.zeros(1), torch.ones(1)), "
            "(torch.ones(1, 1) @ torch.ones(1, 1)).item(), sum([1, 2]))")


def _in_kernel(code: str, shown: list[str] | None = None) -> tuple[str, str]:
    """Run ``code`` in a new jailed kernel (as autograde starts one); its stdout and its process's type
    (the mime types of what it displayed go into ``shown``)."""
    import asyncio

    from checker.sandbox.kernel import JailedKernelManager

    async def run():
        km = JailedKernelManager(kernel_name="python3")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        out: list[str] = []
        try:
            await kc.wait_for_ready(timeout=60)
            def hook(message: dict) -> None:
                if message["msg_type"] == "stream":
                    out.append(message["content"].get("text", ""))
                elif message["msg_type"] == "display_data" and shown is not None:
                    shown.extend(message["content"]["data"])

            await kc.execute_interactive(code, timeout=60, output_hook=hook)
            return "".join(out), type(km.provisioner.process).__name__
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    return asyncio.run(run())


@pytest.mark.parametrize("order", ["tampering first", "pristine first"])
def test_a_kernel_forked_after_a_tampering_one_is_pristine(forked, order):
    codes = [TAMPER_KERNEL, PRISTINE] if order == "tampering first" else [PRISTINE, TAMPER_KERNEL, PRISTINE]
    results = [_in_kernel(code) for code in codes]
    assert all(kind == "ForkedProcess" for _, kind in results), results
    for code, (out, _) in zip(codes, results):
        assert out.strip() == ("tampered" if code is TAMPER_KERNEL else "False 1.0 3"), (code, out)


PLOT = "import matplotlib, matplotlib.pyplot as plt\nprint(matplotlib.get_backend())\nplt.plot([1, 2])\nplt.show()"


def test_a_forked_kernel_draws_inline_as_a_fresh_one_does(forked, monkeypatch):
    """The template imported pyplot under Agg; a kernel forked from it draws with the inline backend, as
    a fresh kernel does (a figure in the notebook, not nothing)."""
    forked_shown: list[str] = []
    forked_out, forked_kind = _in_kernel(PLOT, forked_shown)
    monkeypatch.delenv(template.ADDRESS_ENV)
    fresh_shown: list[str] = []
    fresh_out, fresh_kind = _in_kernel(PLOT, fresh_shown)
    assert (forked_kind, fresh_kind) == ("ForkedProcess", "Popen")
    assert forked_out.strip() == fresh_out.strip() == template.INLINE_BACKEND
    assert "image/png" in forked_shown and "image/png" in fresh_shown


def test_on_an_untested_jupyter_client_kernels_start_afresh(forked, monkeypatch):
    """The fork fills in jupyter_client's private launch: on a version outside the tested range a kernel is
    started afresh (and works); on the installed one it is forked."""
    import jupyter_client

    from checker.sandbox import kernel

    assert kernel.template_launch_supported() and kernel.template_launch_supported("8.6.3")
    assert not kernel.template_launch_supported("9.0.0") and not kernel.template_launch_supported("8.5.0")
    assert not kernel.template_launch_supported("dev")
    monkeypatch.setattr(jupyter_client, "__version__", "9.0.0")
    shown: list[str] = []
    out, kind = _in_kernel(PLOT, shown)
    assert kind == "Popen" and out.strip() == template.INLINE_BACKEND


BUSY_REQUESTER = """import sys, threading, time, torch
from checker.sandbox import protocol, spawn
started = []
worker = threading.Thread(target=lambda: started.append(spawn.spawn(spawn.Limits(cell_seconds=600.0))))
worker.start()
worker.join()  # started from a thread that has ended, as the checker's pool of threads may do
child = started[0]
assert type(child.proc).__name__ == sys.argv[1], type(child.proc).__name__
protocol.write_message(child.to_child, {"key": protocol.new_key()})
protocol.write_message(child.to_child, {"op": "exec_cell", "index": 0, "source": "while True:\\n    pass"})
print(child.proc.pid, child.jail.scratch, flush=True)
time.sleep(600)
"""


def _gone(session: int, seconds: float) -> bool:
    """Whether every process of ``session`` (a forked child, its jail's pid 1 and student code) has ended."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(session, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _busy_child(env=None, kind: str = "ForkedProcess") -> tuple[object, int]:
    import subprocess
    import sys

    from instructor import tool_env

    requester = subprocess.Popen([sys.executable, "-c", BUSY_REQUESTER, kind], stdout=subprocess.PIPE, text=True,
                                 env={**tool_env(), **(env or {})})
    line = requester.stdout.readline().split()
    assert line and line[0].isdigit(), f"the requester did not start its child: {requester.wait()}"
    return requester, int(line[0]), line[1]


def _sweep_elsewhere() -> int:
    """What another grader starting now removes: the scratch folders of graders that are gone."""
    import subprocess
    import sys

    from instructor import tool_env

    out = subprocess.run([sys.executable, "-c", "from checker.sandbox import jail; print(jail.sweep_stale_scratch())"],
                         capture_output=True, text=True, env=tool_env(), check=True)
    return int(out.stdout)


@pytest.mark.parametrize("kind", ["ForkedProcess", "Popen"])
def test_a_grader_killed_mid_grading_leaves_no_child_running(forked, kind):
    """Its child (forked by the template, or started afresh where there is none) runs student code in a
    loop; the grader is killed (its time was up, say): the child's whole session ends instead of being
    left to burn a core for no one (the template ends a forked one; a fresh one's launcher ends itself)."""
    import signal

    requester, session, scratch = _busy_child({} if kind == "ForkedProcess" else {template.ADDRESS_ENV: ""}, kind)
    try:
        assert not _gone(session, 1.5)  # it runs while its grader waits for it
        _sweep_elsewhere()
        assert os.path.isdir(scratch), "another grader removed the scratch folder of a live one"
    finally:
        requester.send_signal(signal.SIGKILL)
        requester.wait()
    assert _gone(session, 10.0), "the child outlived the grader that asked for it"
    assert forked.proc.poll() is None
    _sweep_elsewhere()  # the killed grader could not clean up; the next grader to start does (or one already did:
    assert not os.path.exists(scratch), "a killed grader's scratch folder was left"  # /tmp is shared)


def test_children_end_with_their_template():
    import signal

    with template.running(say=lambda line: None) as run:
        if run.template is None:
            pytest.skip("no fork template on this machine")
        requester, session, _ = _busy_child({template.ADDRESS_ENV: run.template.address})
        try:
            run.template.proc.send_signal(signal.SIGKILL)
            assert _gone(session, 10.0), "a forked child outlived its template"
        finally:
            requester.kill()
            requester.wait()


def test_every_grader_shares_one_import_root_and_trusts_no_one_else_s(monkeypatch, tmp_path):
    """The jail's import root (a folder holding only a link to the checker) is made once per user and
    installation, not once per grader (a killed grader left its own behind: thousands in /tmp); a folder
    under that name that is not exactly that (another file in it, a link elsewhere) is not used."""
    import subprocess
    import sys

    from checker.sandbox import jail
    from instructor import tool_env

    ask = [sys.executable, "-c", "from checker.sandbox import jail; print(jail._lib_dir())"]
    first, second = (subprocess.run(ask, capture_output=True, text=True, env=tool_env(), check=True).stdout.strip()
                     for _ in range(2))
    assert first == second and os.path.basename(first).startswith(jail.LIB_PREFIX)
    assert os.listdir(first) == ["checker"] and os.path.realpath(os.path.join(first, "checker")) == jail.CHECKER_DIR

    monkeypatch.setattr(jail, "scratch_base", lambda: str(tmp_path))
    jail._lib_dir.cache_clear()
    try:
        shared = jail._lib_dir()
        assert os.path.dirname(shared) == str(tmp_path)
        jail._lib_dir.cache_clear()
        open(os.path.join(shared, "checker.py"), "w").close()  # planted beside the link
        private = jail._lib_dir()
        assert os.path.basename(private).startswith(jail.PRIVATE_LIB_PREFIX) and os.listdir(private) == ["checker"]
    finally:
        jail._lib_dir.cache_clear()


SECRET_HUNT = """import gc, os, sys
token = {token!r}
found = [where for where, text in (("argv", " ".join(sys.argv)), ("cmdline", open("/proc/self/cmdline", "rb").read().decode()),
                                   ("environ", repr(dict(os.environ)))) if token in text]
for obj in gc.get_objects():
    if isinstance(obj, (bytes, bytearray, str)) and token.encode() in (obj if not isinstance(obj, str) else obj.encode()):
        found.append(type(obj).__name__)
print("FOUND" if found else "CLEAN", found)
"""


def test_no_forked_kernel_holds_the_template_s_secret(forked):
    """The token travels on the template's stdin (not argv or its environment), and each forked child wipes the
    template's copy before it runs anything: a kernel searching its argv, environment and the objects its
    garbage collector tracks finds nothing."""
    out, kind = _in_kernel(SECRET_HUNT.format(token=forked.token))
    assert kind == "ForkedProcess"
    verdicts = [line for line in out.splitlines() if line.startswith(("CLEAN", "FOUND"))]  # (torch may warn too)
    assert verdicts == ["CLEAN []"], out
    with open(f"/proc/{forked.proc.pid}/cmdline", "rb") as f:
        assert forked.token.encode() not in f.read()


def test_the_template_enforces_its_own_jail_whatever_a_client_asks(forked, tmp_path):
    """A client holding the token that asks for no Landlock, no namespaces and read access to everything still
    gets a child that cannot read the course (here: a file outside the jail's read list)."""
    from checker.sandbox import jail

    if not jail.available().landlock:
        pytest.skip("no Landlock on this machine: nothing for the template to enforce")
    secret = tmp_path / "nbgrader_config.py"
    secret.write_text("c.CheckerVerdicts.hidden_seed = 1234567\n")
    box = jail.Jail()
    wide = {**box.policy(), "landlock": 0, "namespaces": False, "read": ["/"], "write": ["/"], "memory": 2**40}
    read_r, read_w = os.pipe()
    to_r, to_w = os.pipe()
    try:
        with open(tmp_path / "log", "wb+") as log:
            child = template.fork_child(wide, to_r, read_w, log)
            os.close(to_r)
            os.close(read_w)
            import torch

            from checker.sandbox import protocol
            key = protocol.new_key()
            protocol.write_message(to_w, {"key": key})
            protocol.read_message(read_r, None, (key, 0))  # ready
            cell = f"try:\n    print(open({str(secret)!r}).read())\nexcept OSError as e:\n    print('REFUSED', e)"
            protocol.write_message(to_w, {"op": "exec_cell", "index": 0, "source": cell})
            answer = protocol.read_message(read_r, None, (key, 1))
            child.kill() if hasattr(child, "kill") else None
    finally:
        for fd in (read_r, to_w):
            try:
                os.close(fd)
            except OSError:
                pass
        box.cleanup()
    assert "REFUSED" in answer["output"] and "1234567" not in answer["output"], answer


def test_a_client_cannot_name_its_own_cgroup_or_scratch(forked, tmp_path):
    from checker.sandbox import jail

    box = jail.Jail()
    try:
        for bad in ({"scratch": str(tmp_path)}, {"cgroups": ["/sys/fs/cgroup/pids"]}):
            with pytest.raises(ValueError, match="refused"):
                template.enforced({**box.policy(), **bad}, "/lib")
        assert template.enforced(box.policy(), "/lib")["read"][-1] == "/lib"
        wider = template.enforced({**box.policy(), "cwd": "/", "write": ["/"], "sockets": ["/"], "scratch_bytes": 2**40}, "/lib")
        assert (wider["cwd"], wider["write"][0], wider["sockets"]) == (box.work, box.work, [box.scratch])
        assert wider["scratch_bytes"] == jail.MAX_SCRATCH
    finally:
        box.cleanup()


def test_a_scratch_folder_removed_while_the_sweep_looks_is_skipped(monkeypatch):
    """Two graders start at once: the folder one lists is gone by the time it reads it (the other removed it). The
    sweep goes on; it had raised UnboundLocalError, which autograde took for a kernel problem and flagged."""
    from checker.sandbox import jail

    listed = os.listdir(jail.scratch_base()) if os.path.isdir(jail.scratch_base()) else []
    gone = jail.SCRATCH_PREFIX + "vanished-meanwhile"
    monkeypatch.setattr(jail.os, "listdir", lambda path: [*listed, gone])
    assert jail.sweep_stale_scratch.__wrapped__() >= 0
