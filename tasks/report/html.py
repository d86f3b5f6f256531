"""``report.html``: the report as one self-contained page, for MLflow's artifact viewer.

MLflow shows ``report.md`` as Markdown without its images (a relative ``plots/x.png`` does not
resolve there) and squashes a 15-column table into the pane's width. Its HTML viewer renders a
file in a sandboxed frame with nothing around it, so the page carries everything itself: each
plot inlined as a base64 PNG, the tables as HTML tables that keep their columns' natural widths
(numbers never wrap; a table wider than the pane scrolls sideways, not the page), long text
cells (errors, explanations) wrapping at a readable width.

It is the same text as ``report.md``, converted with markdown-it (CommonMark plus tables; raw
HTML in the text is escaped, not passed through).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

LONG_CELL = 60  # characters: a table cell longer than this wraps (errors, explanations)

STYLE = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 16px 24px; color: #1f2328; }
p, li { max-width: 75em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 1.6em; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1.1em; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f6f8fa; padding: 0 3px; }
table { display: block; max-width: 100%; overflow-x: auto; border-collapse: collapse; margin: 8px 0 16px;
        font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 3px 9px; white-space: nowrap; text-align: left; }
th { background: #f6f8fa; position: sticky; top: 0; }
td.long { white-space: normal; min-width: 24em; max-width: 48em; }
tbody tr:nth-child(even) { background: #fafbfc; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
"""


def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _data_uri(path: Path) -> str | None:
    if not path.is_file():
        return None
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}.get(
        path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def to_html(markdown: str, folder: str | Path, title: str = "Report") -> str:
    """The page for ``markdown`` (a report's text), its images read from ``folder`` and inlined.
    An image that is not there stays a (broken) link with its alt text: the page says so."""
    folder = Path(folder)
    md = _markdown()
    tokens = md.parse(markdown)
    for i, tok in enumerate(tokens):
        if tok.type == "td_open" and i + 1 < len(tokens) and len(tokens[i + 1].content) > LONG_CELL:
            tok.attrSet("class", "long")
        for child in tok.children or ():
            if child.type == "image":
                src = child.attrGet("src") or ""
                uri = None if "://" in src or src.startswith("data:") else _data_uri(folder / src)
                if uri is not None:
                    child.attrSet("src", uri)
    body = md.renderer.render(tokens, md.options, {})
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")


def write_html(markdown_file: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` beside ``report.md`` (or to ``out``); returns its path."""
    src = Path(markdown_file)
    text = src.read_text()
    first = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "Report")
    dest = Path(out) if out else src.with_suffix(".html")
    dest.write_text(to_html(text, src.parent, first))
    return dest
