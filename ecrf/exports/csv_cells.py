"""The one guard of every CSV cell against formula injection (OWASP "CSV Injection").

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and a
leading tab or carriage return can hide one), so a text cell starting with one of them is
written with a leading ``'``: the spreadsheet shows the text, and a reader of the raw file sees
exactly what was stored after the quote. Numbers are never text cells, so ``-5`` stays ``-5``.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """Return a text for a CSV cell, with a leading ``'`` when it could start a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
