"""Syntax highlighting and diffs for the code preview panel (Pygments, server-side)."""

from __future__ import annotations

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, TextLexer, get_lexer_by_name, guess_lexer_for_filename
from pygments.util import ClassNotFound

# `linespans`: each line is `<span id="line-N">`, so the Checks panel can point at a finding's line.
FORMATTER = HtmlFormatter(cssclass="hl", linenos="table", wrapcode=True, linespans="line")
DIFF_FORMATTER = HtmlFormatter(cssclass="hl", wrapcode=True)


def highlight_file(path: str, content: str, language: str = "") -> str:
    try:
        lexer = get_lexer_by_name(language) if language else guess_lexer_for_filename(path, content)
    except ClassNotFound:
        try:
            lexer = guess_lexer_for_filename(path, content)
        except ClassNotFound:
            lexer = TextLexer()
    return highlight(content, lexer, FORMATTER)


def highlight_diff(diff: str) -> str:
    return highlight(diff or "(no changes)", DiffLexer(), DIFF_FORMATTER)


def stylesheet() -> str:
    return FORMATTER.get_style_defs(".hl")
