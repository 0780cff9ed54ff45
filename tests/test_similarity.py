"""The similarity report: planted copies found (verbatim, renamed and moved, one exercise), honest students and
one-liners the whole class writes never listed; an earlier term compared against; a missing engine said."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from checker import course
from instructor.grading import sample_class
from instructor.reports import similarity as sim
from instructor.reports import similarity_report as report

pytest.importorskip("copydetect", reason="the similarity report's engine (copydetect) is not installed")

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / course.RELEASE_DIR / course.ASSIGNMENT
LONG = sample_class.OWN_MATMUL_LOOPS  # a long right answer nobody else writes


def works(student: str, parts: dict, notebook: str = "01_matmul", reference: bool = False) -> list[sim.Work]:
    return [sim.Work(student, notebook, part, source, reference) for part, source in parts.items()]


def class_of(n: int, seed: int = 0) -> list[sim.Work]:
    """``n`` independent students of 01_matmul, each in her own hand (the sample class's honest students)."""
    rng = random.Random(seed)
    found = []
    for i in range(n):
        parts = {e.name: sample_class.in_her_own_hand(rng.choice(sample_class.honest_answers("01_matmul", e.name)),
                                                      rng)
                 for e in sample_class.exercises("01_matmul")}
        found += works(f"h{i:02d}", parts)
    return found


@pytest.fixture(scope="module")
def starters():
    return sim.starter_cells(RELEASE)


def listed(pairs) -> set:
    return {frozenset((p.a, p.b)) for p in pairs}


def test_the_planted_copies_are_found_and_no_honest_pair(tmp_path, starters):
    """The sample class as ``make demo`` writes it: exactly the three planted pairs, each by the rule that fits."""
    roster = sample_class.build_roster()
    sample_class.write_class(RELEASE, tmp_path / course.SUBMITTED_DIR, roster)
    (tmp_path / course.RELEASE_DIR).mkdir()
    (tmp_path / course.RELEASE_DIR / course.ASSIGNMENT).symlink_to(RELEASE)
    pairs, figures = sim.compare(sim.class_works(tmp_path), starters)
    planted = {frozenset((s.id, source)): notebook for s in roster for notebook, source in s.copied_from.items()}
    assert listed(pairs) == set(planted), [(p.a, p.b, p.notebook, round(p.bits), p.share) for p in pairs]
    assert {p.notebook for p in pairs} == set(planted.values())
    reasons = {next(k for k in ("verbatim", "renamed", "partial") if k in p.a + p.b): p.reason for p in pairs}
    assert reasons == {"verbatim": sim.SAME, "renamed": sim.SAME, "partial": sim.ONE_PART}
    assert figures["students"] == len(roster)


def test_a_one_liner_the_whole_class_writes_is_never_a_copy():
    """Thirty students write ``relu`` the same way: nothing is listed, whatever else they share."""
    same = "def relu(x):\n    return (x > 0) * x\n"
    pairs, _ = sim.compare([w for i in range(30) for w in works(f"s{i:02d}", {"relu": same}, "02_forward")])
    assert pairs == []


def test_a_long_rare_stretch_in_one_exercise_is_found_among_independent_students(starters):
    honest = class_of(20)
    copier = [w for w in honest if w.student == "h01" and w.part != "matmul_loops"]
    source = [sim.Work("h00", "01_matmul", "matmul_loops", LONG)] + [w for w in honest if w.student == "h00"
                                                                     and w.part != "matmul_loops"]
    rest = [w for w in honest if w.student not in ("h00", "h01")]
    pairs, _ = sim.compare(rest + source + copier + works("h01", {"matmul_loops": LONG}), starters)
    assert listed(pairs) == {frozenset(("h00", "h01"))}
    (pair,) = pairs
    assert pair.reason == sim.ONE_PART and pair.parts[0].part == "matmul_loops" and pair.parts[0].bits >= sim.PART_BITS


def test_renaming_every_variable_hides_nothing(starters):
    honest = class_of(15, seed=3)
    mine = [w for w in honest if w.student == "h03"]
    renamed = [sim.Work("copier", w.notebook, w.part, sample_class.renamed_locals(w.source)) for w in mine]
    pairs, _ = sim.compare(honest + renamed, starters)
    assert frozenset(("copier", "h03")) in listed(pairs)
    assert all("copier" in (p.a, p.b) for p in pairs), [(p.a, p.b) for p in pairs]


def test_an_earlier_term_is_compared_against_but_not_listed_among_itself(starters):
    earlier = [sim.Work(f"2025/{w.student}", w.notebook, w.part, w.source, reference=True) for w in class_of(12, 5)]
    twins = [sim.Work("2025/twin", w.notebook, w.part, w.source, reference=True)
             for w in earlier if w.student == "2025/h04"]  # two of last term's students who copied
    now = [sim.Work("now", w.notebook, w.part, w.source) for w in earlier if w.student == "2025/h07"]
    pairs, figures = sim.compare(earlier + twins + now + class_of(8, 9), starters)
    assert listed(pairs) == {frozenset(("now", "2025/h07"))}
    assert figures["reference"] == 13


def test_an_earlier_term_is_read_after_autograde_too_and_an_empty_one_is_refused(tmp_path, monkeypatch, capsys):
    """The reference is compared whether this term's work is read from autograde/ or submitted/; a folder with no
    student's notebooks (the course root given instead of its submitted/) is refused, not silently empty."""
    from instructor import __main__ as cli
    from instructor.authoring import notebooks

    roster = sample_class.build_roster(**sample_class.CI_ROSTER)[:3]
    course_root = tmp_path / "course"
    sample_class.write_class(RELEASE, course_root / course.AUTOGRADED_DIR, roster)
    (course_root / course.RELEASE_DIR).mkdir()
    (course_root / course.RELEASE_DIR / course.ASSIGNMENT).symlink_to(RELEASE)
    earlier = tmp_path / "2025" / course.SUBMITTED_DIR
    sample_class.write_class(RELEASE, earlier, roster[:1])  # last year's copy of this year's first student
    found = sim.class_works(course_root, earlier)
    assert {w.student for w in found if w.reference} == {f"2025/{roster[0].id}"}
    assert {w.student for w in found if not w.reference} == {s.id for s in roster}
    monkeypatch.setattr(notebooks, "ROOT", course_root)
    assert cli.main(["similarity", "--reference", str(tmp_path)]) == 2
    assert sim.REFERENCE_EMPTY.format(folder=tmp_path, assignment=course.ASSIGNMENT) in capsys.readouterr().err
    assert cli.main(["similarity", "--reference", str(earlier)]) == 0
    said = capsys.readouterr().out
    assert f"{roster[0].id} and 2025/{roster[0].id}" in said or f"2025/{roster[0].id} and {roster[0].id}" in said
    assert (course_root / course.AUTOGRADED_DIR / "similarity.json").exists()


def test_the_starter_code_and_untouched_stubs_are_not_compared(tmp_path, starters):
    """Two students who left every stub as released (or retyped it) have written nothing to compare."""
    roster = [sample_class.Student("a", "partial"), sample_class.Student("b", "partial")]
    for s in roster:
        for e in sample_class.exercises("01_matmul"):
            s.replace[("01_matmul", e.name)] = None
    roster[1].replace[("01_matmul", "outer")] = "def outer(u, v):\n    # TODO\n    raise NotImplementedError"
    sample_class.write_class(RELEASE, tmp_path, roster)
    found = [w for s in roster for w in sim.works_of(tmp_path / s.id / course.ASSIGNMENT / "01_matmul.ipynb",
                                                      s.id, "01_matmul", starters)]
    assert found == []
    assert sim.still_a_stub("def f(x):\n    '''doc'''\n    raise NotImplementedError()\n")
    assert not sim.still_a_stub("def f(x):\n    return x\n")


def test_the_page_shows_the_code_side_by_side_and_escapes_it(tmp_path, starters):
    hostile = "def outer(u, v):\n    '<script>alert(1)</script>'\n" + "\n".join(
        f"    w{i} = u[:, None] * v[None, :] + {i}" for i in range(12)) + "\n    return w0\n"
    pairs, figures = sim.compare(works("a<b>", {"outer": hostile}) + works("c", {"outer": hostile})
                                 + class_of(6), starters)
    html = report.page(pairs, figures, {"c": {"01_matmul": "17"}})
    assert "<script>" not in html and "&lt;script&gt;" in html and "a&lt;b&gt;" in html
    assert "<mark>" in html and "17 autograded points" in html and "feedback/c/foundations/01_matmul.html" in html
    lines = report.summary_lines(pairs, tmp_path / "similarity.html", bars=figures["bars"])
    assert lines[0] == report.TEXT_TITLE.format(pairs=report.plural(len(pairs), "pair"),
                                                groups=report.plural(len(sim.clusters(pairs)), "group"))
    assert lines[1].endswith(report.WHY_PART.format(reason=sim.ONE_PART, part="outer", weight=pairs[0].parts[0].bits,
                                                    bar=sim.PART_BITS))


def test_a_missing_engine_is_said_not_a_crash(tmp_path, monkeypatch, capsys):
    def missing():
        raise sim.EngineMissing(ImportError("No module named 'copydetect'"))

    monkeypatch.setattr(sim, "engine", missing)
    pairs, path, why, _ = report.report(tmp_path)
    assert (pairs, path) == (None, None) and why == sim.ENGINE_MISSING.format(error="No module named 'copydetect'")
    assert report.summary_lines(pairs, path, why) == [report.TEXT_MISSING.format(why=why)]
    from instructor import __main__ as cli
    from instructor.authoring import notebooks

    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    assert cli.main(["similarity"]) == 2
    assert "needs copydetect" in capsys.readouterr().out


def test_a_notebook_of_more_code_than_the_checker_reads_is_not_parsed(tmp_path, starters):
    """Attack round 21's 500,000-line cell cost the grader 2 GB to parse: the similarity report reads no notebook the
    checker would refuse (autograde sets it aside, flagged too_large); the same answer without the padding is read."""
    from checker.submission import MAX_CODE_LINES

    answer = "def outer(u, v):\n    return u[:, None] * v[None, :]\n"
    for name, source in (("padded", answer + "a = 1\n" * MAX_CODE_LINES), ("plain", answer)):
        student = sample_class.Student(name, "partial")
        student.replace[("01_matmul", "outer")] = source
        sample_class.write_class(RELEASE, tmp_path, [student])
    read = {name: sim.works_of(tmp_path / name / course.ASSIGNMENT / "01_matmul.ipynb", name, "01_matmul", starters)
            for name in ("padded", "plain")}
    assert read["padded"] == [] and any(w.part == "outer" for w in read["plain"]), read
