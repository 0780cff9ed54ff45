"""The feedback exporter writes the same document as nbconvert's HTMLExporter, without its BeautifulSoup pass."""
from __future__ import annotations

import base64
import logging

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter

from instructor.grading import feedback_html
from instructor.grading.feedback_html import MISSING_ALT, FeedbackHTMLExporter, add_missing_alt

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")).decode()


def notebook_with_images():
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell('A plot: <img src="a.png" alt="the loss"> and one without: <img src=\'b.png\'>'),
        nbformat.v4.new_code_cell('print("<img src=c.png>")  # text, not a tag', outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="<img src=c.png>\n")]),
        nbformat.v4.new_code_cell("plt.plot(x)", outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]),
        nbformat.v4.new_code_cell("show()", outputs=[nbformat.v4.new_output("display_data", data={
            "text/html": '<script>var s = "<img src=d.png>";</script><!-- <img src=e.png> -->'
                         '<img data-x="a>b" src="f.png"/>'})]),
    ]
    return nb


def parsed(html: str) -> str:
    return str(BeautifulSoup(html, features="html.parser"))


@pytest.mark.parametrize("template", ["classic", "basic"])
def test_the_page_is_the_document_nbconvert_writes(template, caplog):
    nb = notebook_with_images()
    theirs, _ = HTMLExporter(template_name=template).from_notebook_node(feedback_html.inert_student_parts(nb))
    with caplog.at_level(logging.WARNING):
        ours, _ = FeedbackHTMLExporter(template_name=template).from_notebook_node(nb)
    # the same document, with the page's own style for long lines and tables (feedback_html.PAGE_STYLE)
    assert parsed(ours) == parsed(theirs.replace("</head>", feedback_html.PAGE_STYLE + "</head>", 1))
    soup = BeautifulSoup(ours, features="html.parser")
    alts = [img.get("alt") for img in soup.find_all("img")]
    # b.png, the plot, d.png (the student's <script> is shown as text, so the tag in it is a tag), f.png
    assert alts == ["the loss", MISSING_ALT, MISSING_ALT, MISSING_ALT, MISSING_ALT]
    assert feedback_html.MISSING_ALT_LOG % 4 in caplog.text


def test_a_jupyterlab_page_goes_through_nbconvert_s_own_pass():
    nb = notebook_with_images()
    theirs, _ = HTMLExporter(template_name="lab").from_notebook_node(feedback_html.inert_student_parts(nb))
    ours, _ = FeedbackHTMLExporter(template_name="lab").from_notebook_node(nb)
    assert feedback_html.LAB_CELLS in ours and 'tabindex="0"' in ours
    assert ours == theirs


def test_only_tags_outside_scripts_and_comments_without_alt_get_one():
    html = ('<p><img src="x"><IMG SRC="y" ALT="">'
            '<script>"<img src=z>"</script><style>/* <img> */</style><!-- <img src=w> --><img src="v" /></p>')
    fixed, added = add_missing_alt(html)
    assert added == 2
    assert fixed == (f'<p><img src="x" alt="{MISSING_ALT}"><IMG SRC="y" ALT="">'
                     '<script>"<img src=z>"</script><style>/* <img> */</style><!-- <img src=w> -->'
                     f'<img src="v" alt="{MISSING_ALT}" /></p>')
    assert add_missing_alt(fixed) == (fixed, 0)


def test_the_course_s_feedback_uses_it():
    from nbgrader.converters import GenerateFeedback
    from traitlets.config.loader import PyFileConfigLoader

    from instructor.authoring.notebooks import ROOT

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert GenerateFeedback(config=config).exporter_class is FeedbackHTMLExporter


def test_active_content_a_student_made_never_runs_in_the_page():
    """Scripts, event handlers, frames and javascript: links from her outputs and markdown are shown as text or
    dropped; the checker's verdict in a test cell keeps its markup (its styles)."""
    from checker import render
    from checker.results import ExerciseResult

    verdict = render.exercise_html(ExerciseResult("outer", "failed", 0.0, 2.0, ["on u (3,): values differ"]))
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    attack = ('<script>document.title="pwned"</script><img src="x.png" onerror="alert(1)">'
              '<iframe src="http://example.org"></iframe><a href="javascript:alert(2)">click</a>')
    nb.cells = [
        nbformat.v4.new_markdown_cell("My answer. " + attack),
        nbformat.v4.new_code_cell("show()", outputs=[
            nbformat.v4.new_output("display_data", data={"text/html": attack, "text/plain": "x"}),
            nbformat.v4.new_output("display_data", data={"application/javascript": "alert(3)", "text/plain": "y"})]),
        nbformat.v4.new_code_cell("check('outer')", metadata={"nbgrader": {"grade": True, "solution": False,
                                                                           "grade_id": "test_outer", "points": 2}},
                                  outputs=[nbformat.v4.new_output("display_data",
                                                                  data={"text/html": verdict, "text/plain": "v"})]),
    ]
    page, _ = FeedbackHTMLExporter(template_name="classic").from_notebook_node(nb)
    body = page.split("<body", 1)[1]
    soup = BeautifulSoup(body, features="html.parser")
    scripts = [s.get_text() for s in soup.find_all("script")]
    assert not any("pwned" in s or "alert" in s for s in scripts), scripts
    assert not any(tag.get("onerror") for tag in soup.find_all(True))
    assert not soup.find_all("iframe")
    assert not any("javascript:" in (a.get("href") or "") for a in soup.find_all("a"))
    assert "document.title" in soup.get_text()  # shown as text, not lost
    assert verdict.split(">", 1)[0] in page  # the verdict's own styled markup
    unsafe, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    assert "onerror" in unsafe  # what nbconvert alone would have served



MARKDOWN_LINKS = ["[my notes](javascript:alert(1))", "[notes](jav&#x61;script:alert(2))", "<javascript:alert(3)>",
                  "[notes][ref]\n\n[ref]: javascript:alert(4)", "[n](JaVa\tScRiPt:alert(5))",
                  "[n](data:text/html;base64,PHNjcmlwdD5hbGVydCg2KTwvc2NyaXB0Pg==)"]
REMOTE_IMAGES = ["![pixel](https://example.org/pixel.png)", '<img src="https://example.org/pixel.png">',
                 '<img src="//example.org/pixel.png">']


@pytest.mark.parametrize("where", ["markdown cell", "displayed Markdown"])
def test_links_that_run_code_and_images_fetched_from_elsewhere_are_dropped_from_her_markdown(where):
    """Her markdown is a link only once rendered: what it renders to is made inert too; her ordinary links,
    anchors and embedded images stay."""
    attacks = MARKDOWN_LINKS + REMOTE_IMAGES
    honest = f"[the lesson](https://course.fast.ai/) and [above](#Matmul) and ![plot](data:image/png;base64,{PNG})"
    text = "\n\n".join(attacks + [honest])
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(text)] if where == "markdown cell" else [
        nbformat.v4.new_code_cell("display(Markdown(text))", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/markdown": text, "text/plain": "<Markdown>"})])]
    page, _ = FeedbackHTMLExporter(template_name="classic").from_notebook_node(nb)
    soup = BeautifulSoup(page.split("<body", 1)[1], features="html.parser")
    hrefs = [a.get("href") or "" for a in soup.find_all("a")]
    assert not any(h.replace("\t", "").lower().startswith(("javascript", "data")) for h in hrefs), hrefs
    sources = [i.get("src") or "" for i in soup.find_all("img")]
    assert not any("example.org" in src for src in sources), sources
    assert "https://course.fast.ai/" in hrefs and "#Matmul" in hrefs, hrefs  # her honest links stay
    assert any(src.startswith("data:image/png;base64,") for src in sources), sources
    unsafe, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    assert 'href="javascript:alert(1)"' in unsafe or where == "displayed Markdown"  # what nbconvert alone serves


def test_the_feedback_draws_its_maths_offline_as_mathml():
    """LaTeX in markdown becomes MathML when the page is made (no MathJax from a CDN); code is left alone."""
    import nbformat

    from instructor.grading.feedback_html import FeedbackHTMLExporter, math_as_mathml

    text = math_as_mathml("scale $\\sqrt{2/n_{in}}$, `$not maths$`, and $$\\frac{a}{b}$$")
    assert text.count("<math") == 2 and "`$not maths$`" in text and "\\sqrt" not in text
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("keeps $x_i^2$ at 1")])
    html, _ = FeedbackHTMLExporter().from_notebook_node(nb)
    assert "<msubsup>" in html and "$x_i^2$" not in html


def test_maths_it_cannot_read_stays_as_written(monkeypatch):
    from instructor.grading import feedback_html

    assert feedback_html.math_as_mathml("broken $\\frac{1$ here") == "broken $\\frac{1$ here" or \
        "<math" in feedback_html.math_as_mathml("broken $\\frac{1$ here")
    monkeypatch.setitem(__import__("sys").modules, "latex2mathml.converter", None)  # the package missing
    assert feedback_html.math_as_mathml("keeps $x$") == "keeps $x$"
