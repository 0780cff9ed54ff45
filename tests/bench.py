"""``make bench``: figures, not assertions.

(a) the lesson's speed ladder, and forward_and_backward against torch.autograd;
(b) the checker's wall time per notebook, for all four, and for one exercise;
(c) the speed bars' margins with two CPU hogs running beside them;
(d) autograde throughput: ours (parallel, verdicts out of kernel) against plain sequential nbgrader;
(e) what confinement adds to starting a process for student code: a bare interpreter against the
    jail launcher with every layer, for an empty program and one that imports torch;
(f) the mutation score: every mutant of the reference solutions through the checker (``make mutants``);
(g) a confined checker child ready to work: started afresh against forked from the template;
(h) students per minute on a Dask cluster of 1 and 2 local worker processes, and a 1,000-student
    class extrapolated from the CPU per student measured there;
(i) the training outcome's margins over many seeds;
(j) the similarity report on 500 synthetic students with three planted copies: time, recall, false pairs.

    python -m tests.bench [--section a b c d e f g h i j] [--rounds 20] [--students 6]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from checker.checks.speed import SpeedBar, human_seconds
from checker.grading import GradingSession, Options, evaluate
from checker.inputs import build
from checker.registry import NOTEBOOKS, Exercise, all_entries
from checker.sandbox import template
from checker.submission import read_submission
from checker.yardsticks import autograd_forward_backward
from solutions import backprop, matmul
from tests.helpers import submission


def table(title: str, header: list[str], rows: list[list]) -> None:
    widths = [max(len(str(x)) for x in [h] + [r[i] for r in rows]) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  " + "  ".join(str(x).ljust(w) for x, w in zip(row, widths)), flush=True)


def median_time(fn, *args, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def section_a() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(5, 784), torch.randn(784, 10)
    ladder = [("loops", matmul.matmul_loops, 2, "1x"), ("elementwise", matmul.matmul_elementwise, 5, "~700x"),
              ("broadcast", matmul.matmul_broadcast, 20, "3,200-3,700x"), ("einsum", matmul.matmul_einsum, 200, "~16,000x"),
              ("@", torch.matmul, 2000, "49,000-100,000x")]
    times = {name: median_time(fn, a, b, repeat=r) for name, fn, r, _ in ladder}
    rows = [[name, human_seconds(times[name]), f"{times['loops'] / times[name]:,.0f}x", lesson]
            for name, _, _, lesson in ladder]
    table("(a) speed ladder, (5,784) @ (784,10), median time and speed-up over the loops",
          ["version", "time", "speed-up", "lesson"], rows)
    args = build({"kind": "mlp", "seed": 0, "params": {"batch": 50000, "n_in": 784, "nh": 50}})
    ours = median_time(backprop.forward_and_backward, *args, repeat=5)
    auto = median_time(autograd_forward_backward, *args, repeat=5)
    table("(a) forward and backward, (50000,784) -> 50 -> 1 (lesson: about as fast as PyTorch)",
          ["version", "time", "ratio"], [["by hand", human_seconds(ours), f"{ours / auto:.2f}x"],
                                         ["torch.autograd", human_seconds(auto), "1.00x"]])


def checker_seconds(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "checker", *args, "--json"], capture_output=True, check=False)
    return time.perf_counter() - start


def section_b(runs: int = 3) -> None:
    from instructor.grading import sample_class
    from instructor.authoring.notebooks import ROOT

    with tempfile.TemporaryDirectory() as tmp:  # the release notebooks as a complete student hands them in
        student = next(s for s in sample_class.build_roster(complete=1, partial=0, size=0) if s.kind == "complete")
        sample_class.write_class(ROOT / "release" / "foundations", Path(tmp), [student])
        paths = {nb: Path(tmp) / student.id / "foundations" / f"{nb}.ipynb" for nb in NOTEBOOKS}
        rows = []
        for nb, path in paths.items():
            t = [checker_seconds(str(path)) for _ in range(runs)]
            rows.append([nb, f"{min(t):.1f} s", f"{statistics.median(t):.1f} s", "15 s"])
        t = []
        for _ in range(runs):
            start = time.perf_counter()
            for path in paths.values():
                checker_seconds(str(path))
            t.append(time.perf_counter() - start)
        rows.append(["all four", f"{min(t):.1f} s", f"{statistics.median(t):.1f} s", "40 s"])
        t = [checker_seconds(str(paths["01_matmul"]), "--only", "matmul_broadcast") for _ in range(runs)]
        rows.append(["--only matmul_broadcast", f"{min(t):.1f} s", f"{statistics.median(t):.1f} s", "3 s"])
    table(f"(b) python -m checker wall time, filled release notebooks, {runs} runs", ["what", "min", "median", "target"], rows)


def slower(exercise: Exercise) -> dict:
    """The next slower algorithm a speed bar is there to fail: the exercise's wrong answer that expects the speed
    message (instructor/authoring/wrong_answers.py), as the cells it replaces."""
    from checker import messages as msg
    from instructor.authoring.wrong_answers import WRONG

    return next(w.replace for w in WRONG if (w.notebook, w.exercise) == (exercise.notebook, exercise.name)
                and msg.SPEED_FAILED in w.expected)


@contextmanager
def hogs(count: int = 2):
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def ratios(path: Path, exercise: Exercise, rounds: int) -> tuple[list[float], list[str]]:
    sub = read_submission(path)
    speed_only = Exercise(exercise.name, exercise.notebook, exercise.points, exercise.summary,
                          tuple(c for c in exercise.checks if isinstance(c, SpeedBar)), exercise.seconds)
    out, statuses = [], []
    with GradingSession(sub, Options()) as session:
        session.load()
        for _ in range(rounds):
            result = evaluate(speed_only, session.sandbox, Options())
            statuses.append(result.status)
            if result.timing:
                out.append(result.timing["ratio"])
    return out, statuses


def section_c(rounds: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, hogs(2):
        for exercise in [e for e in all_entries() if isinstance(e, Exercise)]:
            bar = next((c for c in exercise.checks if isinstance(c, SpeedBar)), None)
            if bar is None:
                continue
            ref_dir, slow_dir = Path(tmp) / f"ref-{exercise.name}", Path(tmp) / f"slow-{exercise.name}"
            ref_dir.mkdir(), slow_dir.mkdir()
            ref = submission(ref_dir, exercise.notebook)
            slow = submission(slow_dir, exercise.notebook, replace=slower(exercise))
            ref_ratios, ref_status = ratios(ref, exercise, rounds)
            slow_rounds = rounds
            slow_ratios, slow_status = ratios(slow, exercise, slow_rounds)
            worst = max(ref_ratios) if ref_ratios else float("nan")
            best = min(slow_ratios) if slow_ratios else float("nan")
            rows.append([exercise.name, f"{bar.bar:g}x", f"{worst:.3g}x", f"{best:.3g}x",
                         f"{bar.bar / worst:.1f}x", f"{best / bar.bar:.1f}x" if slow_ratios else "-",
                         f"{sum(s != 'passed' for s in ref_status)}/{rounds}",
                         f"{sum(s == 'passed' for s in slow_status)}/{slow_rounds}",
                         ",".join(sorted(set(slow_status)))])
    table(f"(c) speed bars with two CPU hogs beside them, {rounds} rounds each",
          ["exercise", "bar", "reference worst", "slower best", "margin ref", "margin slower",
           "false failures", "false passes", "slower statuses"], rows)


def course_copy(root: Path, ours: bool) -> Path:
    from instructor.authoring.notebooks import ROOT

    root.mkdir(parents=True)
    config = (ROOT / "nbgrader_config.py").read_text()
    if not ours:  # plain nbgrader: its own autograde pipeline, the test cells run the checker in the kernel
        config = config.split("# Scores come from the checker")[0]
    (root / "nbgrader_config.py").write_text(config)
    shutil.copytree(ROOT / "source", root / "source")
    return root


def gradebook_total(root: Path, roster) -> float:
    """The points nbgrader's gradebook holds for these students: a pipeline that skipped work would show it."""
    from nbgrader.api import Gradebook, MissingEntry

    total = 0.0
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for s in roster:
            try:
                total += gb.find_submission("foundations", s.id).score
            except MissingEntry:
                pass
    return total


def section_d(students: int) -> None:
    from instructor.grading import autograde as ag
    from instructor.grading import classday
    from instructor.grading import sample_class
    from instructor import tool_env

    roster = sample_class.build_roster(complete=students // 2, partial=students - students // 2, size=0)
    roster = [s for s in roster if s.kind in ("complete", "partial")][:students]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, ours in (("plain nbgrader, sequential", False), ("ours, --jobs 2", True)):
            root = course_copy(Path(tmp) / ("ours" if ours else "plain"), ours)
            classday.ensure_assignment(root)
            sample_class.write_class(root / "release" / "foundations", root / "submitted", roster)
            start, cpu = time.perf_counter(), _children_cpu()
            if ours:
                with template.running(say=lambda line: None):
                    ag.autograde(root, jobs=2, extra=["--Execute.timeout=30"])
            else:
                # one nbgrader process for the whole class, as an instructor would run it
                subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "foundations", "--force",
                                "--Execute.timeout=30"], cwd=root, capture_output=True, env=tool_env())
            seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
            got, want = gradebook_total(root, roster), sum(sample_class.expected_total(s) for s in roster)
            rows.append([label, len(roster), f"{seconds:.0f} s", f"{60 * len(roster) / seconds:.2f}",
                         f"{cpu / len(roster):.1f} s", f"{got:g} of {want:g} expected"])
    speedup = float(rows[0][2][:-2]) / float(rows[1][2][:-2])
    table(f"(d) autograde throughput, {len(roster)} students x 4 notebooks (speed-up {speedup:.2f}x)",
          ["pipeline", "students", "wall time", "students/min", "CPU per student", "points in the gradebook"], rows)


def section_h(students: int) -> None:
    """Students per minute on a Dask cluster of 1 and 2 local worker processes, and a 1,000-student class
    extrapolated from the CPU per student measured here."""
    import distributed

    from instructor.grading import cluster
    from instructor.grading import sample_class

    roster = sample_class.build_roster(complete=students // 2, partial=students - students // 2, size=0)
    roster = [s for s in roster if s.kind in ("complete", "partial")][:students]
    rows, per_student = [], []
    _cpu_group()  # joined before the clusters start, so that their processes are counted
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            root = course_copy(Path(tmp) / f"workers{workers}", True)
            from instructor.grading import classday
            classday.ensure_assignment(root)
            sample_class.write_class(root / "release" / "foundations", root / "submitted", roster)
            with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                          dashboard_address=None, silence_logs=40) as local, \
                    distributed.Client(local) as client:
                client.wait_for_workers(workers)
                start, cpu = time.perf_counter(), _children_cpu()
                runs = cluster.autograde(root, client, extra=["--Execute.timeout=30"], say=lambda line: None)
                seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
            got, want = gradebook_total(root, roster), sum(sample_class.expected_total(s) for s in roster)
            per_student.append(cpu / len(roster))
            rows.append([workers, len(roster), f"{seconds:.0f} s", f"{60 * len(roster) / seconds:.2f}",
                         f"{cpu / len(roster):.1f} s", f"{got:g} of {want:g}", sum(r.returncode != 0 for r in runs)])
    table(f"(h) a Dask cluster of local worker processes, {len(roster)} students (each worker sets up once: "
          "the course, a template, a pre-imported nbgrader)",
          ["workers", "students", "wall time", "students/min", "CPU per student", "points", "not graded"], rows)
    cpu = per_student[-1]
    print(f"  1,000 students at {cpu:.1f} s of CPU each (measured above with 2 workers, their set-up included: an upper bound) = {1000 * cpu / 3600:.1f} "
          f"CPU hours: about {1000 * cpu / 2 / 60:.0f} min on this 2-core machine, {1000 * cpu / 16 / 60:.0f} min "
          f"on 2 machines of 8 cores, {1000 * cpu / 80 / 60:.1f} min on 10 (one worker per core; assumes "
          "throughput grows with cores as it did from 1 to 2 workers here, and the gradebook keeps up)")


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def _children_cpu() -> float:
    """CPU seconds used so far by this process's descendants, all of them: counted by a cpuacct cgroup
    this process joins (getrusage misses the kernels that are killed before their jail reaps them);
    where there is none, the whole machine's busy time (/proc/stat), which also counts anything else."""
    group = _cpu_group()
    if group is not None:
        return int((group / "cpuacct.usage").read_text()) / 1e9 - _own_cpu()
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK") - _own_cpu()


def _own_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_GROUP: list = []


def _cpu_group() -> Path | None:
    if not _GROUP:
        group = CPUACCT / f"foundations-bench-{os.getpid()}"
        try:
            group.mkdir()
            (group / "cgroup.procs").write_text(str(os.getpid()))
            _GROUP.append(group)
        except OSError:
            _GROUP.append(None)
    return _GROUP[0]


def _kernel_ready_seconds() -> float:
    """A jailed notebook kernel (as autograde starts one) started and through ``import torch``."""
    import asyncio

    from checker.sandbox.kernel import JailedKernelManager

    async def run() -> float:
        start = time.perf_counter()
        km = JailedKernelManager(kernel_name="python3")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            await kc.execute_interactive("import torch", timeout=60)
            return time.perf_counter() - start
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    return asyncio.run(run())


def section_g(rounds: int) -> None:
    """A checker child ready to work (torch imported, confined), and a notebook kernel through ``import
    torch``: started afresh against forked from a template."""
    from checker.sandbox.runner import Limits, Sandbox

    def ready_seconds() -> float:
        start = time.perf_counter()
        with Sandbox([], Limits()) as box:
            box.start()
            return time.perf_counter() - start

    rows = []
    for what, measure, count in (("checker child", ready_seconds, rounds),
                                 ("notebook kernel", _kernel_ready_seconds, max(3, rounds // 4))):
        fresh = [measure() for _ in range(max(3, count // 4))]
        with template.running(say=lambda line: None) as run:
            forked = [measure() for _ in range(count)] if run.template else []
        rows.append([what, "started afresh", len(fresh), f"{1000 * statistics.median(fresh):.0f} ms",
                     f"{1000 * min(fresh):.0f} ms"])
        if forked:
            rows.append([what, "forked from the template", len(forked), f"{1000 * statistics.median(forked):.0f} ms",
                         f"{1000 * min(forked):.0f} ms"])
    table("(g) confined and ready: fresh against forked", ["process", "how", "runs", "median", "min"], rows)


def _start_seconds(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def section_e(rounds: int) -> None:
    """Before: the child was a bare ``python -P -c ...``. After: the jail launcher with every layer.
    Each pair is timed in turns, so that load on the machine hits both alike; torch's import is noisy
    (+-100 ms), so the trivial target shows the added cost best."""
    from checker.sandbox import jail

    box = jail.Jail()
    rows = []
    try:
        for what, code in (("an empty program", "pass"), ("a program importing torch", "import torch")):
            bare, jailed = [], []
            for _ in range(rounds if code == "pass" else max(3, rounds // 2)):
                bare.append(_start_seconds([sys.executable, "-E", "-P", "-c", code]))
                jailed.append(_start_seconds(box.command(["-c", code]), box.env))
            for name, times in (("no jail", bare), ("jailed", jailed)):
                rows.append([what, name, f"{1000 * statistics.median(times):.0f} ms", f"{1000 * min(times):.0f} ms"])
            rows.append([what, "added", f"{1000 * (statistics.median(jailed) - statistics.median(bare)):+.0f} ms",
                         f"{1000 * (min(jailed) - min(bare)):+.0f} ms"])
    finally:
        box.cleanup()
    table(f"(e) the cost of confinement ({jail.available().describe()})", ["start", "", "median", "min"], rows)


def section_f() -> None:
    from tests import mutants

    print("\n(f) the mutation score of the checker")
    mutants.main([])


def section_i(seeds: int = 200) -> None:
    """The training outcome's margins: the reference loop's lowest accuracy over many seeds against the bar, and
    the classic mistakes' highest; CPU seconds of one reference training."""
    import torch

    from checker.checks.training import TrainingOutcome, forward, init_weights, reference_fit
    from checker.data import digits_split
    from checker.inputs import generator

    check = TrainingOutcome()
    x_train, y_train, x_valid, y_valid = digits_split()

    def accuracy(seed: int, variant: str = "") -> tuple[float, float]:
        gen = generator(seed + 53)
        weights = init_weights(gen, (x_train.shape[1], check.hidden, 10))
        order = torch.randperm(len(x_train), generator=gen)
        batches = [(x_train[order[i:i + check.batch]], y_train[order[i:i + check.batch]])
                   for i in range(0, len(x_train), check.batch)]
        start = time.process_time()
        params = reference_fit(weights, batches, check.lr, check.epochs, variant)
        cpu = time.process_time() - start
        return float((forward(params, x_valid).argmax(-1) == y_valid).float().mean()), cpu

    print(f"\n(i) the training outcome: {seeds} seeds, bar {check.bar:.0%}")
    right = [accuracy(s) for s in range(seeds)]
    rows = [["reference", f"{min(a for a, _ in right):.1%}", f"{sum(a for a, _ in right) / seeds:.1%}",
             f"{max(a for a, _ in right):.1%}", f"{sum(c for _, c in right) / seeds * 1000:.0f} ms"]]
    for variant in ("sign", "no_zero", "first_batch", "one_epoch"):
        got = [accuracy(s, variant)[0] for s in range(seeds)]
        rows.append([variant, f"{min(got):.1%}", f"{sum(got) / seeds:.1%}", f"{max(got):.1%}", ""])
    table("accuracy on the held-out digits", ["loop", "lowest", "mean", "highest", "CPU per training"], rows)


def section_j(students: int = 500) -> None:
    """The similarity report at scale: a synthetic class of honest students in their own hands (the sample class's
    way) with the three planted copies; the time to read and compare it, what it lists, and the margins."""
    import math

    from instructor.grading import sample_class
    from instructor.reports import similarity as sim

    print(f"\n(j) the similarity report: {students} synthetic students, five notebooks each, three planted copies")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        release = Path(__file__).resolve().parents[1] / "release" / "foundations"
        (root / "release").mkdir()
        (root / "release" / "foundations").symlink_to(release)
        sample_class.write_class(release, root / "submitted", sample_class.earlier_term(students, seed=7))
        started = time.monotonic()
        works = sim.class_works(root)
        read = time.monotonic() - started
        by = {(w.student, w.notebook): [] for w in works}
        for w in works:
            by[(w.student, w.notebook)].append(w)
        planted = [sim.Work("copy-verbatim", w.notebook, w.part, w.source) for w in by[("t001", "02_forward")]]
        planted += [sim.Work("copy-renamed", w.notebook, w.part, sample_class.renamed_locals(w.source))
                    for w in by[("t002", "03_backprop")]]
        works = [w for w in works if (w.student, w.part) != ("t003", "matmul_loops")] + planted + [
            sim.Work("t003", "01_matmul", "matmul_loops", sample_class.OWN_MATMUL_LOOPS),
            sim.Work("copy-partial", "01_matmul", "matmul_loops", sample_class.OWN_MATMUL_LOOPS)]
        started = time.monotonic()
        pairs, figures = sim.compare(works, sim.starter_cells(release), report_all=True)
        compared = time.monotonic() - started
    copies = {frozenset(p) for p in (("copy-verbatim", "t001"), ("copy-renamed", "t002"), ("copy-partial", "t003"))}
    honest = [p for p in pairs if frozenset((p.a, p.b)) not in copies]
    found = [p for p in pairs if frozenset((p.a, p.b)) in copies]
    n = figures["students"]
    bar = math.log2(n * (n - 1) / 2) + sim.SAME_MARGIN
    listed = lambda p: p.surprise >= bar or p.parts[0].bits >= sim.PART_BITS  # noqa: E731
    table("what it lists", ["", "pairs", "listed", "highest same-answers bits", "highest fragments in one part"],
          [["planted copies", len(found), sum(map(listed, found)), f"{max(p.surprise for p in found):.1f}",
            f"{max(p.parts[0].bits for p in found):.0f}"],
           ["honest pairs sharing anything", len(honest), sum(map(listed, honest)),
            f"{max(p.surprise for p in honest):.1f}", f"{max(p.parts[0].bits for p in honest):.0f}"]])
    print(f"bars: same answers {bar:.1f} bits, one part {sim.PART_BITS:g} fragments; read {read:.0f} s, "
          f"compared in {compared:.0f} s (one core)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("--section", nargs="+", choices="abcdefghij", default=list("abcdefghij"))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--students", type=int, default=6)
    args = parser.parse_args(argv)
    for name in args.section:
        {"a": section_a, "b": section_b, "c": lambda: section_c(args.rounds),
         "d": lambda: section_d(args.students), "e": lambda: section_e(args.rounds), "f": section_f,
         "g": lambda: section_g(args.rounds), "h": lambda: section_h(args.students), "i": section_i,
         "j": section_j}[name]()


if __name__ == "__main__":
    main()
