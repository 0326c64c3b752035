"""Text made safe to write: into CSV files a spreadsheet will open, HTML pages, the gradebook.

Everything a submission or its sandbox says (messages, names, cell errors) passes through
:func:`clean` before it is written anywhere: valid Unicode only (a lone surrogate would make the
UTF-8 encoder fail), no control characters but tab and newline (no NUL, which PostgreSQL refuses,
no terminal escapes), and a bounded length.
"""

from __future__ import annotations

import unicodedata

#: Longest text kept in one field of an output.
MAX_CHARS = 4000


def clean(text: object, limit: int = MAX_CHARS) -> str:
    """``text`` as a string that any output can hold (see the module's docstring)."""
    text = text if isinstance(text, str) else str(text)
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    kept = "".join(
        c
        if c in "\t\n" or unicodedata.category(c) not in ("Cc", "Cs")
        else "\N{REPLACEMENT CHARACTER}"
        for c in text[: limit + 1]
    )
    return kept if len(kept) <= limit else kept[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def one_line(text: object, limit: int = MAX_CHARS) -> str:
    """``text`` cleaned for a terminal line: no line breaks or tabs, and no invisible format
    characters (the bidirectional overrides that would make a name print backwards)."""
    return "".join(
        " " if c in "\t\n" else "" if unicodedata.category(c) == "Cf" else c
        for c in clean(text, limit)
    )


#: Longest written answer kept (a spreadsheet cell holds 32,767 characters).
ANSWER_CHARS = 30_000

#: Characters that change the direction text is shown in (embeddings, overrides, isolates).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def readable(text: object, limit: int = ANSWER_CHARS) -> str:
    """``text`` cleaned, and shown as it was written: direction controls (which would make it
    display reversed) replaced, so that what an instructor reads is what the student wrote."""
    return "".join(
        "\N{REPLACEMENT CHARACTER}" if c in BIDI_CONTROLS else c for c in clean(text, limit)
    )


#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(text: object, limit: int = MAX_CHARS) -> str:
    """A CSV field that spreadsheets show as text: cleaned, and prefixed with ``'`` when it
    would start a formula (``=HYPERLINK(...)`` as a student's name)."""
    value = clean(text, limit)
    return "'" + value if value.startswith(FORMULA_STARTS) else value
