"""The feedback exporter writes the same document as nbconvert's HTMLExporter, without its BeautifulSoup pass."""
from __future__ import annotations

import base64
import logging

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter

from instructor import feedback_html
from instructor.feedback_html import MISSING_ALT, FeedbackHTMLExporter, add_missing_alt

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
    theirs, _ = HTMLExporter(template_name=template).from_notebook_node(nb)
    with caplog.at_level(logging.WARNING):
        ours, _ = FeedbackHTMLExporter(template_name=template).from_notebook_node(nb)
    assert parsed(ours) == theirs
    soup = BeautifulSoup(ours, features="html.parser")
    alts = [img.get("alt") for img in soup.find_all("img")]
    assert alts == ["the loss", MISSING_ALT, MISSING_ALT, MISSING_ALT]  # b.png, the plot, f.png
    assert feedback_html.MISSING_ALT_LOG % 3 in caplog.text


def test_a_jupyterlab_page_goes_through_nbconvert_s_own_pass():
    nb = notebook_with_images()
    theirs, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
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

    from instructor.notebooks import ROOT

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert GenerateFeedback(config=config).exporter_class is FeedbackHTMLExporter
