"""The rules every free text obeys before it is recorded: NFC, no hidden characters, a length.

A text in the permanent record must read the same to everyone who sees it: control characters
(other than tab and newline) and Unicode bidi overrides (U+202A-U+202E, U+2066-U+2069, which
make text display in another order than it is stored, as in "Trojan Source") are refused;
composed and decomposed accents are stored one way (NFC); a Windows line end (CR LF) is stored
as a newline. Lengths count characters after NFC.
"""

from __future__ import annotations

import unicodedata

MAX_SHORT_TEXT = 200  # a term, an agent, a drug, a unit, a lot number
MAX_LONG_TEXT = 2000  # a comment, details, a reason for a missed visit
MAX_FULL_NAME = 200
MAX_REASON = 2000  # the reason of a correction, void, lock
MAX_WORKFLOW_TEXT = 4000  # a query or its answer

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
ALLOWED_CONTROLS = frozenset("\t\n")


class TextProblem(ValueError):
    """A text refused, with a message a site coordinator can act on."""


def clean_text(value: str, max_length: int | None = None) -> str:
    """Return the text in NFC with CR LF as newline, or raise TextProblem saying what is wrong."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n"))
    for char in text:
        if char in BIDI_CONTROLS:
            raise TextProblem(f"contains an invisible text-direction character "
                              f"(U+{ord(char):04X}) that can disguise what the text says; "
                              "remove it")
        if unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROLS:
            raise TextProblem(f"contains a control character (U+{ord(char):04X}) that cannot "
                              "be shown; only tab and newline are allowed")
    if max_length is not None and len(text) > max_length:
        raise TextProblem(f"must be at most {max_length} characters (this one has {len(text)})")
    return text
