"""MkDocs hooks for the notebook pages that `tools/build_docs.py` builds.

- TeX in markdown cells (`$...$`, `$$...$$`, `\\begin{..}`) becomes MathML at build time (latex2mathml), which
  browsers render natively: no MathJax, nothing fetched.
- Heading permalinks look as Material makes them (shown on hover, kept out of search titles).
- Table-of-contents entries take the full heading text (mkdocs-jupyter drops `code` spans from them).
"""
import html, re

from nbconvert.filters.markdown_mistune import IPythonRenderer

try: from latex2mathml.converter import convert as _to_mathml
except ImportError: _to_mathml = None  # TeX then shows as written


def _mathml(tex:str, display:str):
    "MathML for `tex`, or None where latex2mathml is missing or cannot read it"
    if _to_mathml is None: return None
    try: return _to_mathml(tex, display=display)
    except Exception: return None


_inline, _block, _env = IPythonRenderer.inline_math, IPythonRenderer.block_math, IPythonRenderer.latex_environment
IPythonRenderer.inline_math = lambda self, body: _mathml(body, 'inline') or _inline(self, body)
IPythonRenderer.block_math = lambda self, body: _mathml(body, 'block') or _block(self, body)
IPythonRenderer.latex_environment = lambda self, name, body: (
    _mathml(f'\\begin{{{name}}}{body}\\end{{{name}}}', 'block') or _env(self, name, body))

_re_anchor = re.compile(r'<a class="anchor-link" href="(#[^"]*)">¶</a>')
_re_h = re.compile(r'<h([1-6])\b[^>]*\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.S)


def _flat(items):
    for it in items:
        yield it
        yield from _flat(it.children)


def on_page_content(content, page, config, files):
    content = _re_anchor.sub(r'<a class="headerlink" href="\1" title="Permanent link">¶</a>', content)
    if not page.toc: return content
    heads = []
    for m in _re_h.finditer(content):
        inner = re.sub(r'<a class="headerlink".*?</a>', '', m.group(3), flags=re.S)
        heads.append((int(m.group(1)), m.group(2), html.escape(html.unescape(re.sub(r'<[^>]+>', '', inner)).strip(), quote=False)))
    toc = list(_flat(page.toc.items))
    heads = [h for h in heads if h[0] <= max(it.level for it in toc)] if toc else heads
    # The TOC comes from the notebook's markdown with code spans cut out ("In a" for "In a `Learner`"), so its
    # titles and ids can differ from the headings on the page: both list the same headings in the same order.
    if len(heads) == len(toc) and all(it.level == h[0] for it, h in zip(toc, heads)):
        for it, (_, hid, title) in zip(toc, heads): it.id, it.title = hid, title
    return content
