"""The parent side of the sandbox: start, limit, feed, and restart the child."""
from __future__ import annotations

import dataclasses
import signal
import subprocess
import time


from checker.errors import ChildDied, ProbeTimeout, ProtocolBroken
from checker.kernel_history import definitions
from checker.sandbox import cgroups, jail, protocol, spawn
from checker.sandbox.spawn import Limits

STARTUP_SECONDS = 60.0
MEMORY_FULL = 0.95  # of the jail's memory cap: a probe that runs out its time holding this much ran out of memory
JAIL_FAILED = "because the checker could not confine it (see `python -m instructor doctor`)"
FORGED = "wrote into the checker's channel (a message the checker's child did not seal)"


@dataclasses.dataclass
class CellReport:
    index: int
    error: dict | None = None
    output: str = ""
    stopped: str | None = None  # why the process running it had to be stopped
    trimmed: str | None = None  # why only its definitions ran: the whole cell had to be stopped
    rerun: bool = False  # stopped for its time or its process's death: its definitions may run alone

    @property
    def ok(self) -> bool:
        return self.error is None and self.stopped is None





def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "without a reason the checker could see"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        meaning = {
            "SIGSEGV": "a segmentation fault",
            "SIGKILL": "killed (often: out of memory)",
            "SIGABRT": "aborted",
            "SIGXFSZ": "too much output",
            "SIGBUS": "a bus error",
        }.get(name, "a signal")
        return f"with {meaning} ({name})"
    if returncode == jail.JAIL_FAILED_EXIT:
        return JAIL_FAILED
    return f"with exit code {returncode} (os._exit or sys.exit in your code?)"


class Sandbox:
    """One child process that holds the student's namespace."""

    def __init__(self, cells: list[tuple[int, str]], limits: Limits = Limits()):
        self.cells = cells
        self.limits = limits
        self.proc: subprocess.Popen | None = None
        self._child: spawn.Child | None = None
        self.reports: dict[int, CellReport] = {}
        self.kept: dict[int, str] = {}  # the definitions of a cell that had to be stopped, run in its place
        self._log = None
        self.tampering: list[dict] = []  # what the child's tripwire refused: {"what", "where"}

    # -- process life -------------------------------------------------------------------------
    def _spawn(self) -> None:
        # the first child may be the prestarted one; a restarted child writes to the same log
        child = spawn.take(self.limits) if self._log is None else spawn.spawn(self.limits, self._log)
        self._child = child
        self.proc, self._to_child, self._from_child, self._log = child.proc, child.to_child, child.from_child, child.log
        self._key, self._received = protocol.new_key(), 0
        try:  # the child's first message in: the key it seals its answers with (see checker.sandbox.protocol)
            protocol.write_message(self._to_child, {"key": self._key})
        except OSError:
            pass  # a child that died at once: its exit is read with the first answer

    def start(self) -> None:
        """Start the child and wait until it has imported torch."""
        self._spawn()
        self._sent_at = time.monotonic()
        self._receive(time.monotonic() + STARTUP_SECONDS, "starting up")

    @property
    def layers(self) -> jail.Layers:
        """The confinement layers the child runs under."""
        return self._child.jail.layers if self._child is not None else jail.available()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        spawn.kill(self._child)
        self.proc = self._child = None

    def close(self) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- messages -----------------------------------------------------------------------------
    def _receive(self, deadline: float, what: str) -> dict:
        try:
            answer = protocol.read_message(self._from_child, deadline, (self._key, self._received))
            self._received += 1
        except protocol.ChannelForged:
            self.stop()
            self.tampering.append({"what": FORGED, "where": what})
            raise ProtocolBroken(reason=FORGED) from None
        except protocol.ChannelTimeout:
            full = self._memory_full()
            self.stop()
            error = ProbeTimeout(seconds=deadline - self._sent_at, what=what)
            error.memory_full = full  # read by the grader: out of memory, not an endless loop
            raise error from None
        except protocol.ChannelClosed:
            code = self.proc.wait() if self.proc else None
            self.stop()
            raise ChildDied(how=describe_exit(code), what=what) from None
        except Exception as exc:  # noqa: BLE001 - anything unreadable is the child's fault
            self.stop()
            raise ProtocolBroken(reason=f"{type(exc).__name__}: {exc}"[:300]) from None
        if not isinstance(answer, dict):
            self.stop()
            raise ProtocolBroken(reason=f"expected a dict, got {type(answer).__name__}")
        refused = answer.pop("tampering", None)
        if isinstance(refused, list):
            self.tampering += [r for r in refused if isinstance(r, dict) and r not in self.tampering][:20]
        return answer

    def _request(self, message: dict, seconds: float, what: str) -> dict:
        if not self.alive():
            self.restart()
        self._sent_at = time.monotonic()
        try:
            protocol.write_message(self._to_child, message)
        except (BrokenPipeError, OSError):
            code = self.proc.wait() if self.proc else None
            self.stop()
            raise ChildDied(how=describe_exit(code), what=what) from None
        return self._receive(self._sent_at + seconds, what)

    # -- loading ------------------------------------------------------------------------------
    def _exec_cell(self, index: int, source: str) -> CellReport:
        try:
            answer = self._request({"op": "exec_cell", "index": index, "source": source},
                                   self.limits.cell_seconds, f"running cell {index}")
        except (ProbeTimeout, ChildDied) as exc:
            return CellReport(index, stopped=str(exc), rerun=True)
        except ProtocolBroken as exc:  # a forged channel: no second chance
            return CellReport(index, stopped=str(exc))
        return CellReport(index, error=answer.get("error"), output=str(answer.get("output", "")))

    def _exec_or_definitions(self, index: int, source: str) -> CellReport:
        """Run a cell; one that has to be stopped (too slow, or it killed its process) is run again as only its
        definitions (def, class, import), as a kernel's interrupted cell is replayed: an experiment after the def
        costs the experiment, not the exercise."""
        report = self._exec_cell(index, source)
        if not report.rerun:
            return report
        kept = definitions(source, in_place=True)
        if not kept.strip() or kept.split() == source.split():
            return report
        again = self._exec_cell(index, kept)
        if again.stopped is not None:
            return report
        self.kept[index] = kept
        return dataclasses.replace(again, trimmed=report.stopped)

    def run_cell(self, index: int, source: str) -> CellReport:
        """Run one more cell in the loaded namespace (the kernel ran it after the others)."""
        self.reports[index] = self._exec_or_definitions(index, source)
        return self.reports[index]

    def load(self, progress=None) -> list[CellReport]:
        """Run every cell once, in order; a cell that hangs or kills the process is skipped."""
        started = time.monotonic()
        if not self.alive():
            self.start()
        for index, source in self.cells:
            if time.monotonic() - started > self.limits.load_seconds:
                self.reports[index] = CellReport(index, stopped="not run: the time limit for loading was reached")
                continue
            if progress:
                progress(index)  # before: a slow cell can be named while it runs
            self.reports[index] = self._exec_or_definitions(index, source)
        return [self.reports[i] for i, _ in self.cells]

    def restart(self) -> None:
        """A fresh child with the cells that loaded cleanly the first time."""
        self.stop()
        self.start()
        for index, source in self.cells:
            report = self.reports.get(index)
            if report is not None and report.stopped is None:
                replay = self._exec_cell(index, self.kept.get(index, source))
                if replay.stopped:
                    self.reports[index] = replay
                    if not self.alive():
                        self.stop()
                        self.start()

    def _memory_full(self) -> bool:
        """Whether the jail holds all the memory it may when its time runs out: at its memory cgroup's cap, the
        kernel reclaims what it can (each page of code read in again) instead of failing the allocation, and a
        memory bomb runs out its time where the per-process limit would have stopped it at once."""
        jail = getattr(self._child, "jail", None)
        path = getattr(jail, "memory_cgroup", None)
        if not path:
            return False
        # its peak too: thrashing at the cap, the kernel evicts the jail's own code pages, and what it holds now
        # can dip under the cap it keeps hitting
        used = max(cgroups.memory_usage_bytes(path) or 0, cgroups.memory_peak_bytes(path) or 0)
        return used >= MEMORY_FULL * jail.limits.memory_bytes

    # -- probing ------------------------------------------------------------------------------
    def probe(self, scenario: str, params: dict, seconds: float, what: str, fresh: bool = False) -> dict:
        """The child runs ``scenario``; ``fresh``: in a copy of itself made for the call, which keeps nothing."""
        request = {"op": "probe", "scenario": scenario, "params": params, **({"fresh": True} if fresh else {})}
        return self._request(request, seconds, what)

    def cpu_seconds(self) -> float:
        """CPU time the child's jail has used so far, as the kernel counts it (see checker.sandbox.cgroups)."""
        return self._child.jail.cpu_seconds(self.proc)

    def timed_probe(self, scenario: str, params: dict, seconds: float, what: str) -> tuple[dict, float]:
        """A probe and the CPU time its whole jail spent on it, read from outside the jail before and after."""
        if not self.alive():
            self.restart()
        before = self.cpu_seconds()
        answer = self.probe(scenario, params, seconds, what)
        return answer, self.cpu_seconds() - before

    def names(self) -> list[str]:
        return list(self._request({"op": "names"}, 10.0, "listing names").get("names", []))
