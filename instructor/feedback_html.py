"""The feedback pages, as nbconvert's HTMLExporter writes them, without its whole-page BeautifulSoup pass.

After rendering, ``HTMLExporter.from_notebook_node`` parses the whole page with BeautifulSoup to give
every ``<img>`` without one an ``alt`` text and to make JupyterLab-template cells focusable, and then
writes the page out again: about 0.75 s of CPU per student's feedback (4 notebooks), half of it.
nbgrader's feedback template (the classic one) has no JupyterLab cells, so only the ``alt`` texts are
left to add: :func:`add_missing_alt` does that in the page's text, and the page is the same document
(tests/test_feedback_html.py compares the two parsed). A page that does have JupyterLab cells goes
through nbconvert's own pass.

nbgrader_config.py makes it the feedback exporter (``GenerateFeedback.exporter_class``).
"""
from __future__ import annotations

import re

from nbconvert.exporters import HTMLExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

MISSING_ALT = "No description has been provided for this image"  # nbconvert's own text
MISSING_ALT_LOG = "Alternative text is missing on %s image(s)."
LAB_CELLS = "jp-Notebook"  # the class that nbconvert's focusable-cell selectors start from

# What an HTML parser does not read as tags (comments, the raw text of <script> and <style>), matched
# first and left as they are; then an <img> tag, its attributes and its end ("/>" or ">").
_IMG_OUTSIDE_RAW_TEXT = re.compile(
    r"<!--.*?-->|<(script|style)\b.*?</\1\s*>|<img\b(?P<attributes>(?:[^>\"']|\"[^\"]*\"|'[^']*')*?)(?P<end>\s*/?)>",
    re.S | re.I)
_ATTRIBUTE_NAME = re.compile(r"""(?:^|\s)([^\s"'=<>/]+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?""")


def add_missing_alt(html: str) -> tuple[str, int]:
    """``html`` with ``alt="..."`` (nbconvert's text) on every ``<img>`` that has none; how many it added."""
    added = 0

    def fix(match: re.Match) -> str:
        nonlocal added
        attributes = match.group("attributes")
        if attributes is None or "alt" in {name.lower() for name in _ATTRIBUTE_NAME.findall(attributes)}:
            return match.group(0)
        added += 1
        return f'<img{attributes} alt="{MISSING_ALT}"{match.group("end")}>'

    return _IMG_OUTSIDE_RAW_TEXT.sub(fix, html), added


class FeedbackHTMLExporter(HTMLExporter):
    """HTMLExporter, with the ``alt`` texts added in the page's text instead of a BeautifulSoup round trip."""

    def from_notebook_node(self, nb, resources=None, **kw):
        # What HTMLExporter.from_notebook_node does before it renders (nbconvert 7.17).
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        self.register_filter("highlight_code",
                             self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
        resources = self._init_resources(resources)
        data_types = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self, resources=resources)
        self.register_filter("filter_data_type", data_types)
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        if LAB_CELLS in html:  # cells to make focusable: nbconvert's own pass
            return super().from_notebook_node(nb, resources, **kw)
        html, added = add_missing_alt(html)
        if added:
            self.log.warning(MISSING_ALT_LOG, added)
        return html, resources
