"""The similarity report shown two ways: a few lines for the autograde summary, and ``similarity.html``.

The page is self-contained (inline CSS, no scripts). Everything from a student (her code, her folder's name) is
escaped: student code is hostile.
"""
from __future__ import annotations

import html
from pathlib import Path

from checker import course
from instructor.reports import similarity as sim

TITLE = "Code too alike to be independent"
HOW = ("Compared: per exercise, the code of each student's solution cell less the released starter code (an "
       "untouched stub is not compared), and per notebook the code cells she added; written answers are not "
       "compared. Names, strings, comments and layout do not count: renaming variables or moving cells hides "
       "nothing. Two rules list a pair. \"{same}\": for each exercise where the two hand in the same code token for "
       "token, log2(N / n) bits, n of the N who answered it having written that code; listed at log2(pairs) + "
       "{margin:g} bits, so that chance alone lists an independent pair about once in {classes:.0f} classes. "
       "\"{one_part}\": each fragment of {k} characters of tokenised code both wrote counts 1 / (n - 1) for the n "
       "students who wrote it (1 if only the pair did, 0 if more than {common:.0%} of the class did: that is how "
       "the lesson writes it); listed at {part_bits:g} in one exercise. A one-liner is shorter than a fragment. "
       "{students} students compared. A listing is a reason to look, not a verdict: read the code side by side.")
REFERENCE = "Earlier terms' work compared against ({n} students, shown as folder/student): never listed among themselves."
NONE = "No pair of students shares enough rare code to be listed."
TEXT_TITLE = "similarity: {pairs} of students share code too alike to be independent ({groups}):"
TEXT_ROW = "  {a} and {b}, {notebook}: {why}"
WHY_SAME = "{reason} ({bits:.1f} bits; listed from {bar:.1f})"
WHY_PART = "{reason}: {part} ({weight:.0f} weighted rare fragments; listed from {bar:g})"
TEXT_NONE = "similarity: no pair of students shares enough rare code to be listed"
TEXT_MISSING = "similarity: not compared ({why})"
TEXT_PATH = "similarity report: {path}"
TOP = 8
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px;color:#1f2328}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border-bottom:1px solid #d0d7de;padding:3px 10px;
text-align:left;vertical-align:top}th{background:#f6f8fa}.muted{color:#57606a}
pre{background:#f6f8fa;white-space:pre-wrap;word-break:break-word;margin:0;padding:6px;font-size:12px}
mark{background:#ffd8b5}.side{display:grid;grid-template-columns:1fr 1fr;gap:8px}section{margin:1.5em 0;
border-top:2px solid #d0d7de;padding-top:.5em}"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def why(p: sim.Pair, bars: dict) -> str:
    """Which rule listed the pair, on what evidence, against which bar."""
    if p.reason == sim.SAME:
        return WHY_SAME.format(reason=p.reason, bits=p.surprise, bar=bars.get(p.notebook, float("nan")))
    top = p.parts[0]
    return WHY_PART.format(reason=p.reason, part=top.part, weight=top.bits, bar=sim.PART_BITS)


def summary_lines(pairs: list | None, path: Path | None, missing: str = "", bars: dict | None = None) -> list[str]:
    """The autograde summary's part."""
    if pairs is None:
        return [TEXT_MISSING.format(why=missing)]
    if not pairs:
        return [TEXT_NONE] + ([TEXT_PATH.format(path=path)] if path else [])
    lines = [TEXT_TITLE.format(pairs=plural(len(pairs), "pair"), groups=plural(len(sim.clusters(pairs)), "group"))]
    lines += [TEXT_ROW.format(a=p.a, b=p.b, notebook=p.notebook, why=why(p, bars or {})) for p in pairs[:TOP]]
    if len(pairs) > TOP:
        lines.append(f"  ... and {len(pairs) - TOP} more")
    return lines + ([TEXT_PATH.format(path=path)] if path else [])


def _student(name: str, notebook: str, scores: dict) -> str:
    """Her name, her score in the notebook, and a link to her feedback (a current student's)."""
    if "/" in name:  # an earlier term's
        return f"<b>{_e(name)}</b> <span class=muted>(earlier term)</span>"
    score = scores.get(name, {}).get(notebook, "")
    link = f"{course.FEEDBACK_DIR}/{name}/{course.ASSIGNMENT}/{notebook}.html"
    return (f"<b>{_e(name)}</b> <span class=muted>{_e(score)} autograded points</span> "
            f"<a href=\"{_e(link)}\">feedback</a>")


def _side_by_side(shared: sim.Shared) -> str:
    _, utils = sim.engine()
    halves = []
    for source, slices in zip(shared.sources, shared.slices):
        if getattr(slices, "size", 0):
            marked, _ = utils.highlight_overlap(source, slices, "<mark>", "</mark>", escape_html=True)
        else:
            marked = _e(source)
        halves.append(f"<pre>{marked}</pre>")
    return f"<div class=side>{''.join(halves)}</div>"


def page(pairs: list, figures: dict, scores: dict) -> str:
    how = HOW.format(k=sim.K, students=figures.get("students", 0), common=sim.COMMON, part_bits=sim.PART_BITS,
                     same=sim.SAME, margin=sim.SAME_MARGIN, classes=2 ** sim.SAME_MARGIN, one_part=sim.ONE_PART)
    parts = [f"<!doctype html><meta charset=utf-8><title>{TITLE}</title><style>{STYLE}</style><h1>{TITLE}</h1>",
             f"<p class=muted>{_e(how)}</p>"]
    if figures.get("reference"):
        parts.append(f"<p class=muted>{_e(REFERENCE.format(n=figures['reference']))}</p>")
    if not pairs:
        parts.append(f"<p>{NONE}</p>")
        return "".join(parts)
    groups = sim.clusters(pairs)
    parts.append("<h2>Groups</h2><ul>" + "".join(f"<li>{_e(', '.join(sorted(g)))}</li>" for g in groups) + "</ul>")
    bars = figures.get("bars", {})
    parts.append("<h2>Pairs</h2><table><tr><th>students</th><th>notebook</th><th>why listed</th>"
                 "<th>same answers (bits; this notebook's bar)</th><th>weighted rare fragments, whole notebook</th>"
                 "<th>share of the smaller notebook's rare code</th></tr>")
    for i, p in enumerate(pairs):
        parts.append(f"<tr><td><a href=\"#pair{i}\">{_e(p.a)} and {_e(p.b)}</a></td><td>{_e(p.notebook)}</td>"
                     f"<td>{_e(p.reason)}</td><td>{p.surprise:.1f} ({bars.get(p.notebook, float('nan')):.1f})</td>"
                     f"<td>{p.bits:.0f}</td><td>{p.share:.0%}</td></tr>")
    parts.append("</table>")
    for i, p in enumerate(pairs):
        parts.append(f"<section id=pair{i}><h3>{_e(p.notebook)}: {_e(why(p, bars))}</h3><div class=side><div>{_student(p.a, p.notebook, scores)}</div>"
                     f"<div>{_student(p.b, p.notebook, scores)}</div></div>")
        for shared in p.parts:
            covered = " and ".join(f"{c:.0%}" for c in shared.coverage)
            parts.append(f"<h4>{_e(shared.part)}: {shared.bits:.0f} weighted rare fragments (shared: {covered} of "
                         f"each one's code)</h4>"
                         + _side_by_side(shared))
        parts.append("</section>")
    return "".join(parts)


def write_html(pairs: list, figures: dict, scores: dict, path: Path) -> Path:
    path.write_text(page(pairs, figures, scores), encoding="utf-8")
    return path


def report(root: Path, table: list[dict] | None = None, reference: Path | None = None, progress=None):
    """Compare the class (after autograde) and write ``similarity.html`` beside grades.csv: returns the listed
    pairs, the page's path, why nothing was compared (the engine missing) or "", and each notebook's bar."""
    try:
        sim.engine()
    except sim.EngineMissing as exc:
        return None, None, str(exc), {}
    works = sim.class_works(root, reference)
    if reference is not None and not any(w.reference for w in works):
        raise sim.ReferenceEmpty(Path(reference))
    starters = sim.starter_cells(root / course.RELEASE_DIR / course.ASSIGNMENT)
    pairs, figures = sim.compare(works, starters, progress=progress)
    scores = {row["student"]: row for row in table or []}
    path = write_html(pairs, figures, scores, root / course.SIMILARITY_REPORT)
    sim.save(pairs, root / course.AUTOGRADED_DIR / "similarity.json")
    return pairs, path, "", figures["bars"]
