"""The feedback pages, as nbconvert's HTMLExporter writes them, without its whole-page BeautifulSoup pass.

After rendering, ``HTMLExporter.from_notebook_node`` parses the whole page with BeautifulSoup to give
every ``<img>`` without one an ``alt`` text and to make JupyterLab-template cells focusable, and then
writes the page out again: about 0.75 s of CPU per student's feedback (4 notebooks), half of it.
nbgrader's feedback template (the classic one) has no JupyterLab cells, so only the ``alt`` texts are
left to add: :func:`add_missing_alt` does that in the page's text, and the page is the same document
(tests/test_feedback_html.py compares the two parsed). A page that does have JupyterLab cells goes
through nbconvert's own pass.

It also renders what the student wrote as inert content (:func:`inert_student_parts`): the outputs of her
code cells and her markdown go through nbconvert's ``SanitizeHTML`` (bleach), so a ``<script>``, an event
handler (``onerror=``), an ``<iframe>`` or a ``javascript:`` link the kernel displayed, or she wrote, is shown
as text or dropped, never run in the page an instructor opens. The test cells' outputs are the checker's
verdicts (written by ``CheckerVerdicts`` outside her kernel) and keep their markup.

nbgrader_config.py makes it the feedback exporter (``GenerateFeedback.exporter_class``).
"""
from __future__ import annotations

import copy
import re

from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

MISSING_ALT = "No description has been provided for this image"  # nbconvert's own text
MISSING_ALT_LOG = "Alternative text is missing on %s image(s)."
LAB_CELLS = "jp-Notebook"  # the class that nbconvert's focusable-cell selectors start from
# Long lines wrap instead of running off the page (a verdict's plain-text copy, a locked cell's comments, an
# error's message), and markdown tables keep their columns apart.
PAGE_STYLE = ("<style>.output_area pre, .output_text pre, .output_subarea pre, .input_area pre "
              "{white-space: pre-wrap; overflow-wrap: anywhere;} "
              ".rendered_html table {border-collapse: collapse;} "
              ".rendered_html th, .rendered_html td {border: 1px solid #d0d7de; padding: 2px 8px;}</style>")

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


# What a student's output or markdown may keep: text formatting, tables, lists, images, links, the MathML her LaTeX
# becomes; no scripts, styles, frames, forms or embedded objects, and no attribute that runs code (any not listed
# is dropped). It is applied twice: to the HTML she wrote or displayed, and to the HTML her markdown renders to
# (a markdown link, ``[notes](javascript:...)``, is a link only once rendered).
INERT_TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3",
              "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small",
              "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"]
MATHML_TAGS = ["math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup",
               "msubsup", "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
               "mstyle", "mpadded", "mphantom", "menclose", "mfenced"]
MATHML_ATTRIBUTES = ["display", "xmlns", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace",
                     "accent", "accentunder", "columnalign", "rowalign", "columnspacing", "rowspacing", "linethickness",
                     "movablelimits", "largeop", "symmetric", "form", "width", "height", "depth", "notation",
                     "encoding", "scriptlevel", "displaystyle", "open", "close", "separators", "minsize", "maxsize",
                     "mathsize", "voffset"]
INERT_ATTRIBUTES = {"*": ["class", "title", "align", "colspan", "rowspan"], "a": ["href", "title"],
                    "img": ["src", "alt", "width", "height"], **{tag: MATHML_ATTRIBUTES for tag in MATHML_TAGS},
                    **{f"h{level}": ["id"] for level in range(1, 7)}}  # a heading's anchor
LINK_SCHEMES = ("http", "https", "mailto")  # where her links may lead (and "#..." or a relative path)
IMAGE_DATA = re.compile(r"data:image/(png|jpeg|gif|webp);base64,", re.I)  # her images: embedded, never fetched
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.I)


def _inert_attribute(tag: str, name: str, value: str) -> bool:
    """Whether an attribute of her HTML may stay: listed for its tag, a link to the web or within the page, an
    image embedded in the page (a remote one would tell its server who opened her feedback, and when)."""
    if name not in INERT_ATTRIBUTES.get(tag, ()) and name not in INERT_ATTRIBUTES["*"]:
        return False
    bare = "".join(ch for ch in value if ch > " ").lower()  # "java\tscript:" is javascript: to a browser
    if tag == "img" and name == "src":
        return bool(IMAGE_DATA.match(bare))
    if name == "href":
        scheme = _SCHEME.match(bare)
        return scheme is None or scheme[1] in LINK_SCHEMES
    return True


def inert_html(html: str) -> str:
    """``html`` with only inert tags and attributes: anything else is shown as text or dropped."""
    import bleach

    return bleach.clean(html, tags=INERT_TAGS + MATHML_TAGS, attributes=_inert_attribute,
                        protocols=[*LINK_SCHEMES, "data"], strip=False, strip_comments=True)


# LaTeX in markdown ($...$, $$...$$) becomes MathML here, when the page is made: browsers draw MathML
# themselves, so the feedback shows its maths offline, with no MathJax fetched from a CDN.
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
_DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<![\\$])\$([^$\n]+?)\$(?!\$)")


def _mathml(latex: str, display: str) -> str | None:
    try:
        from latex2mathml.converter import convert
    except ImportError:  # the course's extra brings it; without it the page keeps the LaTeX as it was written
        return None
    try:
        return convert(latex.strip(), display=display)
    except Exception:  # noqa: BLE001 - LaTeX it cannot read stays as written
        return None


def math_as_mathml(markdown: str) -> str:
    """``markdown`` with its LaTeX as MathML, code spans and blocks left alone."""
    def convert(text: str) -> str:
        text = _DISPLAY_MATH.sub(lambda m: _mathml(m[1], "block") or m[0], text)
        return _INLINE_MATH.sub(lambda m: _mathml(m[1], "inline") or m[0], text)

    out, end = [], 0
    for code in _CODE.finditer(markdown):
        out += [convert(markdown[end:code.start()]), code[0]]
        end = code.end()
    return "".join(out + [convert(markdown[end:])])


def _is_test_cell(cell) -> bool:
    grading = cell.get("metadata", {}).get("nbgrader", {}) or {}
    return bool(grading.get("grade")) and not grading.get("solution")


def inert_student_parts(nb, parent=None):
    """A copy of ``nb`` whose student-made HTML (code outputs, markdown) cannot run anything in a browser."""
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    class Inert(SanitizeHTML):  # its choice of outputs (scripts and widgets dropped), our rule for their HTML
        def sanitize_html_tags(self, html_str):
            return inert_html(html_str)

    sanitizer = Inert(parent=parent)
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "code" and _is_test_cell(cell):
            continue  # the checker's verdicts, written outside the student's kernel
        sanitizer.preprocess_cell(cell, {}, index)
        if cell.get("cell_type") == "markdown":
            cell.source = math_as_mathml(cell.source)
    return nb


class FeedbackHTMLExporter(HTMLExporter):
    """HTMLExporter, with the ``alt`` texts added in the page's text instead of a BeautifulSoup round trip."""

    @pass_context
    def markdown2html(self, context, source):
        """Her markdown (a cell, a displayed ``Markdown``) as HTML, made inert once rendered."""
        return inert_html(super().markdown2html(context, source))

    def from_notebook_node(self, nb, resources=None, **kw):
        from instructor.grading import patches

        nb = inert_student_parts(nb, parent=self)
        if not patches.tested("nbconvert", "page rendering"):  # its whole-page pass, then the same style
            html, resources = super().from_notebook_node(nb, resources, **kw)
            return html.replace("</head>", PAGE_STYLE + "</head>", 1), resources
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
        html = html.replace("</head>", PAGE_STYLE + "</head>", 1)
        if added:
            self.log.warning(MISSING_ALT_LOG, added)
        return html, resources
