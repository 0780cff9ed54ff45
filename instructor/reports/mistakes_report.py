"""The class's mistakes shown two ways: a few lines for the autograde summary, and ``mistakes.html``.

The HTML page is self-contained (inline CSS, no scripts, no images). Everything that comes
from a student (feedback lines quote their code's errors, student ids are folder names) is
escaped: student code is hostile, a feedback line can hold ``<script>``.
"""
from __future__ import annotations

import html
from pathlib import Path

from checker.registry import NOTEBOOKS, Exercise, entries
from checker.render import plain
from instructor.reports.mistakes import NOT_ATTEMPTED, OTHER, PASSED, Mistakes, distributions, exercise_label

TOP = 5
TEXT_TITLE = "most frequent mistakes (students, summed over the exercises that showed it):"
TEXT_ROW = "  {count:>4}  {kind:<30} {exercises}"
TEXT_MORE = ", +{n} more"
TEXT_NONE = "mistakes: none (every autograded exercise passed)"
TEXT_NO_VERDICTS = "mistakes: no autograded notebooks with checker verdicts under {folder}"
TEXT_ASIDE = ("  not attempted: {stubs} (student, exercise) pairs; "
              "feedback lines no known message matched (\"other\"): {other}")
TEXT_PATH = "mistakes per exercise and score distributions: {path}"

TITLE = "What the class got wrong"
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#1f2328}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #d0d7de;padding:3px 10px;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.n{text-align:right}.bar{background:#0969da;height:10px;
display:inline-block}.muted{color:#57606a}code,pre{background:#f6f8fa;white-space:pre-wrap;word-break:break-word}
details{display:inline}summary{cursor:pointer;color:#57606a}ul{margin:0;padding-left:1.2em}"""
INTRO = ("{students} students; {exercises} (student, exercise) pairs not passed. A student counts once per kind of "
         "mistake per exercise; the kinds come from the checker's messages (the feedback the students saw). "
         "Not attempted: {stubs}. Feedback lines of no known message (\"other\"): {other}.")


def summary_lines(mistakes: Mistakes, html_path: Path, folder: Path | None = None) -> list[str]:
    """The autograde summary's part: the top mistakes with their exercises, and where the report is."""
    if not mistakes.verdicts:
        return [TEXT_NO_VERDICTS.format(folder=folder or "autograde/")]
    top = mistakes.top(TOP)
    stubs, other = mistakes.count(NOT_ATTEMPTED), len(mistakes.other)
    if not top and not stubs and not other:
        return [TEXT_NONE, TEXT_PATH.format(path=html_path)]
    lines = [TEXT_TITLE]
    for kind, count, found in top:
        shown = ", ".join(f"{label} {n}" for label, n in found[:3])
        more = TEXT_MORE.format(n=len(found) - 3) if len(found) > 3 else ""
        lines.append(TEXT_ROW.format(count=count, kind=kind, exercises=shown + more))
    lines.append(TEXT_ASIDE.format(stubs=stubs, other=other))
    lines.append(TEXT_PATH.format(path=html_path))
    return lines


def _e(text) -> str:
    """Her text as the page shows it: escaped, and its control characters (an ESC sequence in an exception's
    message) shown as escapes, as the checker's text report shows them."""
    return html.escape(plain(text), quote=True)


def _top_table(mistakes: Mistakes) -> str:
    rows = "".join(
        f"<tr><td>{_e(kind)}</td><td class=n>{count}</td><td>"
        + ", ".join(f"{_e(label)}&nbsp;({n})" for label, n in found) + "</td></tr>"
        for kind, count, found in mistakes.top(n=10**6))
    if not rows:
        return "<p class=muted>No mistakes: every exercise that was attempted passed.</p>"
    return f"<table><tr><th>mistake</th><th>students</th><th>exercises (students)</th></tr>{rows}</table>"


def _scores_table(mistakes: Mistakes) -> str:
    rows = []
    for d in distributions(mistakes.verdicts):
        lo, q1, q2, q3, hi = d.quartiles()
        most = max([n for _, n in d.bands()] + [1])
        bands = "".join(f"<tr><td class=muted>{name}</td><td class=n>{n}</td><td><span class=bar style=\"width:"
                        f"{round(120 * n / most)}px\"></span></td></tr>" for name, n in d.bands())
        absent = mistakes.missing.get(d.notebook, [])
        note = f"<br><span class=muted>not autograded: {_e(', '.join(absent))}</span>" if absent else ""
        figures = "".join(f"<td class=n>{x:g}</td>" for x in (lo, q1, q2, q3, hi)) if d.scores else \
            "<td colspan=5>-</td>"
        rows.append(f"<tr><td>{_e(d.notebook)}{note}</td><td class=n>{len(d.scores)}</td>{figures}"
                    f"<td class=n>{d.max_score:g}</td><td><table>{bands}</table></td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("notebook", "students", "min", "Q1", "median", "Q3", "max", "of",
                                              "students per share of the points"))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _kind_item(mistakes: Mistakes, notebook: str, exercise: str, kind: str, who: set[str]) -> str:
    example = mistakes.examples.get((notebook, exercise, kind), "")
    return (f"<li><b>{_e(kind)}</b> {len(who)} <details><summary>example, students</summary>"
            f"<pre>{_e(example)}</pre><span class=muted>{_e(', '.join(sorted(who)))}</span></details></li>")


def _exercise_tables(mistakes: Mistakes) -> str:
    parts = []
    for notebook in NOTEBOOKS:
        rows = []
        for e in (e for e in entries(notebook) if isinstance(e, Exercise)):
            mine = [v for v in mistakes.verdicts if (v.notebook, v.exercise) == (notebook, e.name)]
            passed = sum(v.status == PASSED for v in mine)
            found = mistakes.kinds.get((notebook, e.name), {})
            ranked = sorted(found.items(), key=lambda kv: (-len(kv[1]), kv[0] in (NOT_ATTEMPTED, OTHER), kv[0]))
            items = "".join(_kind_item(mistakes, notebook, e.name, kind, who) for kind, who in ranked)
            cell = f"<ul>{items}</ul>" if items else "<span class=muted>none</span>"
            rows.append(f"<tr><td>{_e(exercise_label(notebook, e.name))}</td><td class=n>{passed}/{len(mine)}</td>"
                        f"<td>{cell}</td></tr>")
        parts.append(f"<h3>{_e(notebook)}</h3><table><tr><th>exercise</th><th>passed</th>"
                     f"<th>mistakes (students)</th></tr>{''.join(rows)}</table>")
    return "".join(parts)


def _other_list(mistakes: Mistakes) -> str:
    if not mistakes.other:
        return "<p class=muted>Every feedback line matched a known message.</p>"
    items = "".join(f"<li>{_e(exercise_label(nb, ex))}, {_e(student)}: <code>{_e(line)}</code></li>"
                    for student, nb, ex, line in mistakes.other)
    return f"<ul>{items}</ul>"


def page(mistakes: Mistakes) -> str:
    """The whole report as one HTML document."""
    failing = sum(v.status != PASSED for v in mistakes.verdicts)
    intro = INTRO.format(students=len(mistakes.students), exercises=failing,
                         stubs=mistakes.count(NOT_ATTEMPTED), other=len(mistakes.other))
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{TITLE}</title><style>{STYLE}</style>"
            f"</head><body><h1>{TITLE}</h1><p>{_e(intro)}</p>"
            f"<h2>Most frequent mistakes</h2><p class=muted>Not attempted is left out here; it is listed per "
            f"exercise.</p>{_top_table(mistakes)}"
            f"<h2>Scores per notebook</h2>{_scores_table(mistakes)}"
            f"<h2>Per exercise</h2>{_exercise_tables(mistakes)}"
            f"<h2>Feedback no known message matched (other)</h2>{_other_list(mistakes)}</body></html>\n")


def write_html(mistakes: Mistakes, path: Path) -> Path:
    path.write_text(page(mistakes), encoding="utf-8")
    return path
