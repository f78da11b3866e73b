"""How untrusted text is made safe for each view: provider answers (job names, statuses,
failure messages, error bodies) and names from the repository (file names, spec keys).

Every view that shows such text passes it through one function of this module, chosen by the
view, or, for markdown, of ``reconciler.views.markdown`` (which builds on ``one_line``); none
escapes on its own.

Terminal text, text logs, diagnostics and comment lines (``one_line``): every character
``str.isprintable`` rejects is shown as the escape Python's ``repr`` would print (``\\x1b``,
``\\r``, ``\\n``, ``\\u202e``). That covers C0 and C1 controls (ESC, BEL, CR, line feed, tab,
CSI), DEL, the format characters of category Cf (bidi embeddings, overrides and isolates, the
Arabic letter mark, zero-width space and joiners, the word joiner, soft hyphen), line and
paragraph separators, unassigned and private-use code points, lone surrogates, and spaces other
than U+0020 (a no-break space reads as a space but is not one). A field can then neither drive
the terminal (colours, title, clear screen), nor start a line of its own (a forged ``ok`` or
``FAILED`` line, a forged log entry), nor reorder what follows it on the line. The zero-width
joiner of emoji sequences is escaped as well: provider text rarely holds emoji, and the same
character makes two different names look alike. The escapes are for reading, not reversible (a
backslash is left as it is); the exact text is in the JSON output. Text that is all printable
(nearly all of it) is returned as is, after a single C-level check.

JSON (``json_dumps``): ``json.dumps`` with ``ensure_ascii``, so every value reads back exactly
and the bytes are ASCII: ESC, bidi controls and C1 controls appear only as ``\\u001b``,
``\\u202e``, ``\\u009b`` escapes, never raw, whatever shows the file.
"""

from __future__ import annotations

import json
from typing import Any

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    """The escape ``repr`` prints for one non-printable character."""
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def one_line(text: str) -> str:
    """``text`` safe for one line of a terminal or a text log: every non-printable character
    shown as its escape (``\\x1b``, ``\\n``, ``\\u202e``)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def json_dumps(value: Any, **options: Any) -> str:
    """``json.dumps(value, **options)`` with ASCII output: non-ASCII characters (ESC and C1
    controls, bidi controls) escaped as ``\\uXXXX``, so that they read back exactly but never
    reach a terminal or a log viewer raw."""
    return json.dumps(value, ensure_ascii=True, **options)
