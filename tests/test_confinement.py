"""Student code reaches nothing but its own scratch: every attack, in both places student code runs.

Each attack of ``tests/attacks.py`` runs as a cell in the checker's child and as a cell of a
notebook in a jailed kernel (the kernel manager autograde uses). The test asserts the refusal,
that nothing changed on disk, that the listeners the test started heard nothing, and that no
process outlived its jail. Where the machine lacks the layer that refuses an attack, the test
skips and names the missing layer; the active layers are in every assertion message.
"""
from __future__ import annotations

import os
import signal
import site
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from checker import messages as msg
from checker.grading import Options, grade
from checker.sandbox import jail, tripwire
from checker.sandbox.runner import Limits, Sandbox
from tests.attacks import ALLOWED, ATTACKS, BY_NAME, NO_PROCESS, REFUSED
from tests.helpers import cells_for, stub_of, write_ipynb

ROOT = Path(__file__).resolve().parents[1]
LAYERS = jail.available()
PATHS = ("child", "kernel")


class Listeners:
    """A TCP, a UDP and an abstract UNIX listener on this machine, and a SIGUSR1 trap: what reached them."""

    def __init__(self):
        self.heard: list[str] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.abstract_name = f"foundations-test-{os.getpid()}-{os.urandom(3).hex()}"
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind("\0" + self.abstract_name)
        self.unix.listen()
        self._stop = False
        self._threads = [threading.Thread(target=self._accept, args=(s, name), daemon=True)
                         for s, name in ((self.tcp, "tcp"), (self.unix, "abstract unix socket"))]
        for t in self._threads:
            t.start()
        self._old = signal.signal(signal.SIGUSR1, lambda *_: self.heard.append("SIGUSR1"))

    def _accept(self, server, name):
        server.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = server.accept()
                self.heard.append(name)
                conn.close()
            except OSError:
                continue

    def udp_heard(self) -> bool:
        try:
            self.udp.recv(100)
            return True
        except OSError:
            return False

    def close(self):
        self._stop = True
        for t in self._threads:
            t.join()
        for s in (self.tcp, self.udp, self.unix):
            s.close()
        signal.signal(signal.SIGUSR1, self._old)


ATTACK_NAMES = ("pwned", "sitecustomize", "jailbreak")  # what the attacks create in the folders they target


def snapshot() -> dict[str, tuple]:
    """Names, sizes and times of what an attack could write into: the whole checker package (bytecode
    caches aside), and the files an attack would create in site-packages, the course root, home, /var/tmp
    (other tests and people may change other files there while this runs)."""
    seen = {}
    for folder, dirs, files in os.walk(ROOT / "checker"):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            seen[os.path.join(folder, name)] = None
    for top in (Path(site.getsitepackages()[0]), ROOT, Path.home(), Path("/var/tmp")):
        seen.update({str(top / n): None for n in os.listdir(top) if n.startswith(ATTACK_NAMES)})
    for path in seen:
        try:
            st = os.lstat(path)
            seen[path] = (st.st_size, st.st_mtime_ns)
        except OSError:
            pass
    return seen


def survivors(token: str) -> list[int]:
    """Processes still running whose command line holds ``token``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                found.append(int(pid))
        except OSError:
            pass
    return found


def kernel_outputs(cells: list[str], timeout: int = 120) -> list[str]:
    """Run ``cells`` in one jailed kernel, as autograde does; the text each cell printed or raised."""
    from nbclient import NotebookClient

    from checker.sandbox.kernel import JailedKernelManager

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=timeout, kernel_manager_class=JailedKernelManager, allow_errors=True,
                            shutdown_kernel="immediate", resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    texts = []
    for cell in nb.cells:
        parts = [o.get("text", "") or f"{o.get('ename', '')}: {o.get('evalue', '')}" for o in cell.outputs]
        texts.append("".join(parts))
    return texts


def child_outputs(cells: list[str]) -> list[str]:
    with Sandbox(list(enumerate(cells)), Limits(cell_seconds=60.0)) as box:
        reports = box.load()
    return [r.output + (f"{r.error['type']}: {r.error['message']}" if r.error else "") + (r.stopped or "")
            for r in reports]


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """Every attack once in the checker's child and once in a jailed kernel; what each printed."""
    course = tmp_path_factory.mktemp("course")
    (course / "gradebook.db").write_bytes(b"SQLite format 3\0 secret grades")
    other = course / "submitted" / "other" / "foundations"
    other.mkdir(parents=True)
    (other / "01_matmul.ipynb").write_text('{"secret": "another student\'s answers"}')
    listeners = Listeners()
    token = f"{1000 + int.from_bytes(os.urandom(2), 'big')}.{os.getpid()}"
    params = {"course": str(ROOT), "checker": str(ROOT / "checker"), "site": site.getsitepackages()[0],
              "home": str(Path.home()), "gradebook": str(course / "gradebook.db"),
              "other_student": str(other / "01_matmul.ipynb"), "grader_pid": os.getpid(),
              "tcp_port": listeners.tcp.getsockname()[1], "udp_port": listeners.udp.getsockname()[1],
              "abstract": listeners.abstract_name, "daemon_token": token, "bomb": 2 * jail.NPROC,
              "scratch_fill": 3 * jail.MAX_SCRATCH // 2}
    before = snapshot()
    # an attack this machine's layers cannot refuse is not run at all: unconfined, it would really write
    runnable = [a for a in ATTACKS if a.missing_layer(LAYERS) is None]
    cells = [a.cell(params) for a in runnable]
    try:
        outputs = {"child": child_outputs(cells), "kernel": kernel_outputs(cells)}
        time.sleep(0.5)  # anything sent has arrived
        result = {
            path: dict(zip((a.name for a in runnable), outputs[path])) for path in PATHS}
        result["heard"] = list(listeners.heard) + (["udp"] if listeners.udp_heard() else [])
        result["survivors"] = survivors(token)
        result["changed"] = sorted(k for k, v in snapshot().items() if before.get(k) != v) + \
            sorted(set(before) - set(snapshot()))
    finally:
        listeners.close()
        for pid in survivors(token):
            os.kill(pid, signal.SIGKILL)
        for leftover in (ROOT / "checker" / "pwned.py", Path("/var/tmp/foundations-pwned.txt")):
            leftover.unlink(missing_ok=True)
    return result


def skip_without_layer(name: str) -> None:
    reason = BY_NAME[name].missing_layer(LAYERS)
    if reason:
        pytest.skip(f"{name} cannot be refused here: {reason} ({LAYERS.describe()})")


# A UDP datagram to 127.0.0.1 "leaves" into the jail's own empty network without an error: the listener
# on this machine is the judge of that one, as the process list is of the daemon.
REFUSED_BY_MESSAGE = [a.name for a in ATTACKS if a.name not in ("setsid_daemon", "udp_out")]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", REFUSED_BY_MESSAGE)
def test_the_attack_is_refused(attacked, name, path):
    skip_without_layer(name)
    said = attacked[path][name]
    assert REFUSED in said and ALLOWED not in said, f"{name} in the {path} under [{LAYERS.describe()}]: {said!r}"


def test_nothing_outside_the_scratch_changed_on_disk(attacked):
    if LAYERS.landlock < 1:
        pytest.skip(f"no Landlock: the attacks may have written ({LAYERS.describe()})")
    assert attacked["changed"] == [], f"under [{LAYERS.describe()}]"


@pytest.mark.parametrize("name, heard", [("tcp_to_listener", "tcp"), ("udp_out", "udp"),
                                         ("abstract_unix_socket", "abstract unix socket"),
                                         ("signal_grader", "SIGUSR1")])
def test_nothing_reached_the_grader_s_machine(attacked, name, heard):
    skip_without_layer(name)
    assert heard not in attacked["heard"], f"under [{LAYERS.describe()}]"


def test_no_daemon_outlives_its_jail(attacked):
    skip_without_layer("setsid_daemon")
    for path in PATHS:
        said = attacked[path]["setsid_daemon"]
        if path == "child":  # student code starts no process there (the tripwire): nothing can outlive it
            assert said.startswith(NO_PROCESS) and tripwire.ELSEWHERE_REFUSED[:8] in said, said
        else:
            assert "started a daemon" in said, said
    assert attacked["survivors"] == [], f"still running after the jail was killed, under [{LAYERS.describe()}]"


def test_the_attacks_would_succeed_without_the_jail(tmp_path):
    """The other way round: the same snippets, unconfined, do get through (so a refusal means something)."""
    params = {"course": str(ROOT), "other_student": str(ROOT / "README.md")}
    for name in ("import_solutions_from_course_root", "read_solutions", "read_other_student"):
        code = BY_NAME[name].cell(params)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path).stdout
        assert ALLOWED in out, (name, out)


# -- the headline attack, graded: untouched stubs plus the reference solutions imported --------
@pytest.mark.parametrize("how", ["installed", "by_path"])
def test_stubs_plus_an_import_of_the_solutions_earn_nothing(tmp_path, how):
    """``installed``: holds everywhere (solutions/ is no installed package, the child's sys.path has nothing of
    the course). ``by_path``: the student names the course folder: refused by Landlock as it runs (the attack
    ``import_solutions_from_course_root``), and a tampering verdict from the source before that."""
    from solutions.source import entry_sources

    if how == "by_path" and LAYERS.landlock < 1:
        pytest.skip(f"no Landlock: solutions/ is readable by path ({LAYERS.describe()})")
    stubs = {name: stub_of(src) for name, src in entry_sources("01_matmul").items()}
    attack = "from solutions.matmul import *" if how == "installed" else \
        "import sys\nsys.path.insert(0, %r)\nfrom solutions.matmul import *" % str(ROOT)
    cells = cells_for("01_matmul", replace=stubs, extra_cells=[attack])
    path = write_ipynb(tmp_path / "01_matmul.ipynb", cells)
    result = grade(path, options=Options(limits=Limits(cell_seconds=10.0)))
    passed = [e.name for e in result.exercises if e.status == "passed"]
    assert passed == [], f"passed by importing the solutions, under [{LAYERS.describe()}]"
    if how == "installed":
        assert {e.status for e in result.exercises} <= {"not_attempted", "manual"}
    else:  # a notebook that edits sys.path runs code the checker cannot read: a verdict before any check runs
        assert {e.status for e in result.exercises} <= {"failed", "manual"}
        assert any("sys.path" in line for line in result.tampering), result.tampering


def test_an_exercise_that_imports_the_solutions_fails(tmp_path):
    cells = cells_for("01_matmul", replace={
        "outer": "def outer(u, v):\n    from solutions.matmul import outer as answer\n    return answer(u, v)"})
    result = grade(write_ipynb(tmp_path / "01_matmul.ipynb", cells), only=["outer"],
                   options=Options(limits=Limits(cell_seconds=10.0)))
    assert result.exercises[0].status != "passed"
    assert any("solutions" in line for line in result.exercises[0].feedback), result.exercises[0].feedback


def test_an_exercise_that_writes_into_the_checker_changes_nothing(tmp_path):
    if LAYERS.landlock < 1:
        pytest.skip(f"no Landlock: the attack would really overwrite the checker ({LAYERS.describe()})")
    before = snapshot()
    cells = cells_for("01_matmul", replace={"outer": (
        "def outer(u, v):\n"
        "    for target in (%r, %r):\n"
        "        try:\n"
        "            open(target, 'w').write('def judge(*a): return True')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return u[:, None] * v[None, :]") % (str(ROOT / "checker" / "grading.py"),
                                                 str(Path(site.getsitepackages()[0]) / "sitecustomize.py"))})
    result = grade(write_ipynb(tmp_path / "01_matmul.ipynb", cells), only=["outer"],
                   options=Options(limits=Limits(cell_seconds=10.0)))
    assert result.exercises[0].status == "passed"  # the right answer still counts
    assert sorted(k for k, v in snapshot().items() if before.get(k) != v) == []


# -- where a layer is missing: grading works and says so, or refuses when told to --------------
@pytest.fixture
def simulated(monkeypatch):
    """Act as a machine with fewer layers (``simulated("none")``); the cached probe is redone after. Processes
    start afresh: this suite's fork template found every layer on the real machine and enforces it, whatever
    a client asks (a template on a machine without a layer finds that too)."""
    from checker.sandbox import template

    def use(layers: str):
        monkeypatch.setenv(jail.SIMULATE_ENV, layers)
        monkeypatch.delenv(template.ADDRESS_ENV, raising=False)
        jail.available.cache_clear()
        return jail.available()
    yield use
    monkeypatch.delenv(jail.SIMULATE_ENV, raising=False)
    jail.available.cache_clear()


def test_without_layers_grading_still_works_and_says_so(tmp_path, simulated):
    layers = simulated("none")
    assert layers.describe().startswith(jail.NOT_CONFINED.split("{")[0])
    path = write_ipynb(tmp_path / "01_matmul.ipynb", cells_for("01_matmul"))
    result = grade(path, only=["outer"], options=Options(limits=Limits(cell_seconds=10.0)))
    assert result.exercises[0].status == "passed"
    assert result.confinement == layers.describe()
    from checker import messages as msg
    from checker import render
    assert f"sandbox: {layers.describe()}" in render.text(result, verbose=True)  # the layers, for who asks
    assert msg.SANDBOX_PARTIAL in render.text(result) and "sandbox:" not in render.text(result)  # a student's


def test_the_cli_states_the_layers(tmp_path):
    """In the text output (the JSON shape is a fixed contract other tools read: it stays as it is)."""
    path = write_ipynb(tmp_path / "01_matmul.ipynb", cells_for("01_matmul"))
    run = [sys.executable, "-m", "checker", str(path), "--only", "outer"]
    text = subprocess.run([*run, "--verbose"], capture_output=True, text=True, cwd=tmp_path).stdout
    assert f"sandbox: {LAYERS.describe()}" in text
    plain = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path).stdout
    assert "landlock" not in plain  # a student sees one plain sentence at most (none when every layer is on)
    assert (msg.SANDBOX_PARTIAL in plain) is (not LAYERS.full)


def test_required_confinement_refuses_where_a_layer_is_missing(simulated, monkeypatch):
    layers = simulated("landlock")
    monkeypatch.setenv(jail.REQUIRE_ENV, "1")
    with pytest.raises(jail.NotConfined) as refused:
        jail.Jail()
    assert "refusing to run student code: NOT CONFINED: namespaces" in str(refused.value)
    assert refused.value.layers == layers
    out = subprocess.run([sys.executable, "-m", "instructor", "autograde", "--require-confinement"], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, jail.SIMULATE_ENV: "landlock"})
    assert out.returncode == 2 and "refusing to run student code: NOT CONFINED" in out.stderr


def test_required_confinement_grades_where_every_layer_is_active(monkeypatch):
    if not LAYERS.full:
        pytest.skip(f"this machine lacks a layer: {LAYERS.describe()}")
    monkeypatch.setenv(jail.REQUIRE_ENV, "1")
    box = jail.Jail()
    box.cleanup()


@pytest.mark.parametrize("layers", ["all", "none"])
def test_doctor_proves_the_layers_with_a_real_kernel(layers, simulated):
    from instructor.grading import doctor

    if layers == "all" and not LAYERS.full:
        pytest.skip(f"this machine lacks a layer: {LAYERS.describe()}")
    if layers == "none":
        simulated("none")
    code, text = doctor.report(ROOT)
    if layers == "all":
        assert code == 0 and text.count(f"{doctor.OK:>7}  the") == 2, text
    else:
        assert code == 1 and f"{doctor.PROBLEM}  the notebook kernel, jailed, reading nbgrader_config.py: READABLE" \
            in text, text


# -- nothing changes for honest students ---------------------------------------------------------
HONEST_CELLS = ["import torch\nx = torch.randn(64, 32)\nprint((x @ x.T).shape)",
                "%timeit -n 3 -r 2 torch.randn(32, 32) @ torch.randn(32, 32)",
                "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
                "import numpy as np\nnp.random.seed(0)\nprint(np.random.rand(2).round(3))"]


def test_an_honest_notebook_runs_in_the_jailed_kernel_with_nothing_on_stderr():
    from nbclient import NotebookClient

    from checker.sandbox.kernel import JailedKernelManager

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in HONEST_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_manager_class=JailedKernelManager, shutdown_kernel="immediate").execute()
    # one print may arrive as two stream messages under load: consecutive outputs of one stream are one output
    kinds = [[k for i, k in enumerate(names) if i == 0 or names[i - 1] != k]
             for names in ([o.get("name", o.output_type) for o in cell.outputs] for cell in nb.cells)]
    assert kinds == [["stdout"], ["stdout"], ["display_data"], ["stdout"]], (kinds, LAYERS.describe())
    assert "image/png" in nb.cells[2].outputs[0].data


def test_an_honest_notebook_runs_in_the_checker_child_with_nothing_on_stderr():
    said = child_outputs(HONEST_CELLS)
    assert said[0].strip() == "torch.Size([64, 64])" and said[3].strip() == "[0.549 0.715]", said
    assert said[2] == "", said  # no font-cache warning, no backend complaint


def test_a_cell_too_deep_to_parse_is_an_error_in_the_kernel_not_a_hang():
    """Attack round 19: a one-line sum of 3000 terms made IPython raise where it asks whether a cell is async, and
    the kernel never answered (the cell ran out its limit, the student was not graded). Now it is that cell's
    error, at once, and the cells after it run; a deep recursion of her own is still an error as ever."""
    out = kernel_outputs(["print('before')", "z = 1" + " + 0" * 3000 + "\n", "def f(n):\n    return f(n + 1)\nf(0)",
                          "print('after', 1 + 1)"], timeout=60)
    assert out[0] == "before\n" and out[3] == "after 2\n", out
    assert "RecursionError" in out[1] and "RecursionError" in out[2], out  # a hang raises CellTimeoutError at 60 s


# -- one jail's processes share one process's CPU ------------------------------------------------------------------
HOGS = """
import os, time
for _ in range({n} - 1):
    if os.fork() == 0:
        os.setsid()  # a session of its own: outside a cgroup, the kernel's autogroup schedules it as a group
        break
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    pass
"""


def _busy_share(monkeypatch, grouped: bool) -> float:
    """The CPU share one busy process in a jail gets beside another jail running sixteen busy processes."""
    from checker.sandbox import cgroups

    if not grouped:
        monkeypatch.setattr(cgroups, "make_share", lambda cpu: None)
        monkeypatch.setattr(cgroups, "_scheduled_apart", lambda path: False)
    hogs, alone = jail.Jail(), jail.Jail()
    try:
        if not alone.cpu_cgroup:
            pytest.skip("no cpuacct cgroup on this machine: a finished jail's CPU time cannot be read")
        if grouped and not (hogs.share_cgroup and alone.share_cgroup):
            pytest.skip("no cpu cgroup this process can make: a jail's processes are scheduled one by one "
                        "(see README, Security)")
        many = subprocess.Popen(hogs.command(["-c", HOGS.format(n=16, seconds=4)]), cwd=hogs.scratch, env=hogs.env,
                                start_new_session=True)
        time.sleep(1.0)  # the sixteen are running
        one = subprocess.Popen(alone.command(["-c", HOGS.format(n=1, seconds=2)]), cwd=alone.scratch, env=alone.env,
                               start_new_session=True)
        one.wait(30)
        share = alone.cpu_seconds(one) / 2.0
        many.wait(30)
        return share
    finally:
        hogs.cleanup()
        alone.cleanup()


def test_a_jail_of_many_busy_processes_gets_the_cpu_of_one():
    """A notebook that forks sixteen busy workers slows its own grading, not the student graded beside it: the jail is
    one group of the scheduler, even for workers that each start a session of their own. On two cores the lone
    process keeps about one core (half of one with two more busy processes beside; measured 0.54 to 0.92 under
    a load of 7), where without the group it gets one part in seventeen (0.125)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        share = _busy_share(monkeypatch, grouped=True)
    assert share > 0.25, share


def test_without_the_group_the_busy_jail_takes_the_cpu():
    """The bad case, for the test above: each busy process in a session of its own is its own group of the
    scheduler (the kernel's autogroup), so the lone process gets one part in seventeen."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        share = _busy_share(monkeypatch, grouped=False)
    assert share < 0.2, share
