"""Results rendered three ways: a terminal table, JSON (``results.to_json``), and HTML."""
from __future__ import annotations

import html

from checker import messages as msg
from checker.results import FAILED, PASSED, ExerciseResult, NotebookResult

SYMBOLS = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "not_attempted": "--", "manual": "hand"}
COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "error": "#9a6700", "not_attempted": "#57606a",
           "manual": "#0969da"}


def _points(e: ExerciseResult) -> str:
    return f"{e.score:g}/{e.max_score:g}"


def text(result: NotebookResult, verbose: bool = False) -> str:
    """One line per exercise; one line of feedback under each one that did not pass."""
    width = max([len(e.name) for e in result.exercises] + [8])
    lines = [f"{result.notebook}: {result.score:g}/{result.max_score:g} points", ""]
    for e in result.exercises:
        status = msg.STATUS_TEXT[e.status]
        lines.append(f"  {SYMBOLS[e.status]:>5}  {e.name:<{width}}  {status:<14} {_points(e):>7}")
        shown = e.feedback if verbose else e.feedback[:1]
        if e.status == PASSED:
            shown = [line for line in e.feedback if line.startswith("speed")] if not verbose else shown
        if e.status in (PASSED,) and not shown:
            continue
        if e.status in ("manual", "not_attempted") and not verbose:
            continue
        for line in shown:
            lines.append(f"         {'':<{width}}  {line}")
        if not verbose and e.status not in (PASSED,) and len(e.feedback) > 1:
            lines.append(f"         {'':<{width}}  (+{len(e.feedback) - 1} more: --verbose)")
    for note in result.notes:
        lines.append(f"  note: {note}")
    counts = {s: sum(e.status == s for e in result.exercises) for s in SYMBOLS}
    summary = ", ".join(f"{n} {msg.STATUS_TEXT[s]}" for s, n in counts.items() if n)
    lines += ["", f"  {summary} ({result.seconds:.1f} s)"]
    if result.confinement:
        lines.append(f"  sandbox: {result.confinement}")
    return "\n".join(lines)


def exercise_html(e: ExerciseResult) -> str:
    colour = COLOURS[e.status]
    items = "".join(f"<li><code>{html.escape(line)}</code></li>" if e.status == FAILED else
                    f"<li>{html.escape(line)}</li>" for line in e.feedback)
    return (
        f'<div class="checker-result" style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0">'
        f'<b>{html.escape(e.name)}</b>: <span style="color:{colour};font-weight:bold">'
        f'{html.escape(msg.STATUS_TEXT[e.status])}</span> ({_points(e)} points)'
        f'<ul style="margin:2px 0">{items}</ul></div>'
    )


def notebook_html(result: NotebookResult) -> str:
    rows = "".join(
        f'<tr><td><code>{html.escape(e.name)}</code></td>'
        f'<td style="color:{COLOURS[e.status]};font-weight:bold">{html.escape(msg.STATUS_TEXT[e.status])}</td>'
        f'<td>{_points(e)}</td><td>{html.escape(e.feedback[0]) if e.feedback and e.status != PASSED else ""}</td></tr>'
        for e in result.exercises)
    return (f"<div><b>{html.escape(result.notebook)}</b>: {result.score:g}/{result.max_score:g} points"
            f'<table><tr><th>exercise</th><th>status</th><th>points</th><th>feedback</th></tr>{rows}</table>'
            f'{_confinement_html(result.confinement)}</div>')


def _confinement_html(confinement: str) -> str:
    if not confinement:
        return ""
    colour = "#57606a" if confinement.startswith("confined") else "#9a6700"
    return f'<div style="color:{colour};font-size:smaller">sandbox: {html.escape(confinement)}</div>'
