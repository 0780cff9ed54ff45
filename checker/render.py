"""Results rendered three ways: a terminal table, JSON (``results.to_json``), and HTML."""
from __future__ import annotations

import html
import re

from checker import messages as msg
from checker.results import FAILED, PASSED, ExerciseResult, NotebookResult

CONFINED_PREFIX = "confined"  # checker.sandbox.jail.CONFINED's first word: every layer active
SYMBOLS = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "not_attempted": "--", "manual": "hand"}
# JupyterLab's theme colours where the page has them (light and dark themes alike), GitHub's light ones elsewhere
COLOURS = {"passed": "var(--jp-success-color1, #1a7f37)", "failed": "var(--jp-error-color1, #cf222e)",
           "error": "var(--jp-warn-color1, #9a6700)", "not_attempted": "var(--jp-ui-font-color2, #57606a)",
           "manual": "var(--jp-brand-color1, #0969da)"}
QUIET = "var(--jp-ui-font-color2, #57606a)"  # notes
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def inline_code(text: str) -> str:
    """Escaped HTML of a message, its `code` spans as <code> (messages quote code between backticks)."""
    return _CODE_SPAN.sub(r"<code>\1</code>", html.escape(text))


# every character that moves, recolours, erases or reorders what a terminal shows: C0 and C1 controls (a line break
# too: one feedback line is one line of the report), Unicode's line and paragraph separators, and its bidirectional
# controls (U+202E turns "FAIL" around)
_CONTROL = {c: msg.CONTROL_SHOWN.format(code=c) for c in [*range(0x00, 0x09), *range(0x0a, 0x20), *range(0x7f, 0xa0)]}
_CONTROL.update({c: msg.UNICODE_CONTROL_SHOWN.format(code=c)
                 for c in [0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]})


def plain(line: str) -> str:
    """A line for a terminal: control characters (ESC sequences that move the cursor, recolour or erase what
    the report printed, line breaks that start a forged row, bidirectional overrides) shown as escapes, never
    obeyed."""
    return str(line).translate(_CONTROL)


def _first_and_hints(feedback: list[str]) -> list[str]:
    """What the short report shows of a verdict: its first line, and every hint (a hint names the classic
    mistake behind the lines it follows, so it is the line a student most needs)."""
    return feedback[:1] + [line for line in feedback[1:] if str(line).startswith(msg.HINT_PREFIX)]


def _points(e: ExerciseResult) -> str:
    return f"{e.score:g}/{e.max_score:g}"


def text(result: NotebookResult, verbose: bool = False) -> str:
    """One line per exercise; one line of feedback under each one that did not pass."""
    width = max([len(e.name) for e in result.exercises] + [8])
    lines = [f"{result.notebook}: {result.score:g}/{result.max_score:g} points", ""]
    for e in result.exercises:
        status = msg.STATUS_TEXT[e.status]
        lines.append(f"  {SYMBOLS[e.status]:>5}  {e.name:<{width}}  {status:<14} {_points(e):>7}")
        shown = e.feedback if verbose else _first_and_hints(e.feedback)
        if e.status == PASSED:
            shown = [line for line in e.feedback if line.startswith("speed")] if not verbose else shown
        if e.status in (PASSED,) and not shown:
            continue
        if e.status in ("manual", "not_attempted") and not verbose:
            continue
        for line in shown:
            lines.append(f"         {'':<{width}}  {plain(line)}")
        if not verbose and e.status not in (PASSED,) and len(e.feedback) > len(shown):
            lines.append(f"         {'':<{width}}  (+{len(e.feedback) - len(shown)} more: --verbose)")
    for line in result.tampering:
        lines.append(f"  {plain(line)}")
    for note in result.notes:
        lines.append(f"  note: {plain(note)}")
    counts = {s: sum(e.status == s for e in result.exercises) for s in SYMBOLS}
    summary = ", ".join(f"{n} {msg.STATUS_TEXT[s]}" for s, n in counts.items() if n)
    lines += ["", f"  {summary} ({result.seconds:.1f} s)"]
    if result.confinement and verbose:
        lines.append(f"  sandbox: {result.confinement}")
    elif result.confinement and not result.confinement.startswith(CONFINED_PREFIX):
        lines.append(f"  {msg.SANDBOX_PARTIAL}")
    return "\n".join(lines)


CODE_STYLE = ("white-space:pre-wrap;box-decoration-break:clone;-webkit-box-decoration-break:clone;"
              "padding:1px 3px")
CELL_STYLE = "text-align:left;vertical-align:top;padding:2px 8px"


def _feedback_item(e: ExerciseResult, line: str) -> str:
    if e.status == FAILED:
        return f'<li><code style="{CODE_STYLE}">{html.escape(line)}</code></li>'
    return f"<li>{inline_code(line)}</li>"


def exercise_html(e: ExerciseResult) -> str:
    colour = COLOURS[e.status]
    items = "".join(_feedback_item(e, line) for line in e.feedback)
    return (
        f'<div class="checker-result" style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0;'
        f'text-align:left">'
        f'<b>{html.escape(e.name)}</b>: <span style="color:{colour};font-weight:bold">'
        f'{html.escape(msg.STATUS_TEXT[e.status])}</span> ({_points(e)} points)'
        f'<ul style="margin:2px 0">{items}</ul></div>'
    )


def notes_html(notes: list[str], prefix: str = "note: ") -> str:
    return "".join(f'<div style="color:{QUIET};text-align:left">{prefix}{inline_code(n)}</div>' for n in notes)


def notebook_html(result: NotebookResult) -> str:
    def cell(content: str, extra: str = "") -> str:
        return f'<td style="{CELL_STYLE}{extra}">{content}</td>'

    rows = "".join(
        "<tr>" + cell(f"<code>{html.escape(e.name)}</code>", ";white-space:nowrap")
        + cell(html.escape(msg.STATUS_TEXT[e.status]), f";color:{COLOURS[e.status]};font-weight:bold;white-space:nowrap")
        + cell(_points(e), ";white-space:nowrap")
        + cell(html.escape(e.feedback[0]) if e.feedback and e.status != PASSED else "") + "</tr>"
        for e in result.exercises)
    header = "".join(f'<th style="{CELL_STYLE}">{h}</th>' for h in ("exercise", "status", "points", "feedback"))
    return (f'<div style="text-align:left"><b>{html.escape(result.notebook)}</b>: '
            f"{result.score:g}/{result.max_score:g} points"
            f'<table style="margin:4px 0"><tr>{header}</tr>{rows}</table>'
            f"{notes_html(result.tampering, '')}{notes_html(result.notes)}{_confinement_html(result.confinement)}</div>")


def _confinement_html(confinement: str) -> str:
    if not confinement or confinement.startswith(CONFINED_PREFIX):
        return ""  # the layers are for instructors (doctor, grades.csv, the autograde summary, --verbose)
    return f'<div style="color:{COLOURS["error"]};font-size:smaller">{html.escape(msg.SANDBOX_PARTIAL)}</div>'
