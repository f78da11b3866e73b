"""How untrusted text is made safe for each view: provider answers (job names, statuses,
failure messages, error bodies) and names from the repository (file names, spec keys).

Every view that shows such text passes it through one function of this module, chosen by the
view; none escapes on its own.

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

Markdown, for GitHub (``markdown_text`` for prose, ``markdown_code`` for names and ids in
table cells): the text is first made one line as above, with runs of whitespace (line breaks
included) folded into one space, and cut to a length when a cell asks for one. Then it can
neither break its table, nor format, link, embed, or notify anyone:

- ``|`` and the characters that open something inline (`` \\ ` * _ [ ] ~ $ ``: escapes,
  code spans, emphasis, links and images, strikethrough, GitHub's math) are backslash-escaped.
  A link ``[x](url)`` or an image ``![x](url)`` needs an unescaped ``[`` and ``]``, so ``(``,
  ``)`` and ``!`` are left as they are, readable. ``<`` and ``&`` become ``&lt;`` and
  ``&amp;``, so no HTML tag (``<img>``, ``<a>``, ``<details>``), autolink ``<https://...>``
  or entity is read (a ``>`` opens nothing without them, and a quote only at a line's start);
- GitHub turns ``@name`` and ``@org/team`` into notifications and ``#12``/``org/repo#12`` into
  cross-references after rendering, in the text of the page, where a backslash or an entity
  no longer shows: ``@`` and ``#`` are therefore put in code spans of their own (`` `@` ``),
  and what follows them is no longer part of a mention or a reference;
- bare URLs (``https://...``, ``www.``) are turned into links by GitHub's autolink extension
  when it meets the ``:`` before ``//`` or the ``.`` after ``www``: those characters are
  written as entities (``&#58;``, ``&#46;``), which render the same but start no link.

What GitHub still links in escaped text are references it resolves itself: a commit SHA,
``GH-12`` and the repository's own autolink prefixes, which point where this repository's
settings say and notify no one. A code span (``markdown_code``) is read by none of the above.

JSON (``json_dumps``): ``json.dumps`` with ``ensure_ascii``, so every value reads back exactly
and the bytes are ASCII: ESC, bidi controls and C1 controls appear only as ``\\u001b``,
``\\u202e``, ``\\u009b`` escapes, never raw, whatever shows the file.
"""

from __future__ import annotations

import json
import re
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


def _flat(text: str, limit: int | None) -> str:
    """One line with whitespace folded, escaped as ``one_line``, cut to ``limit`` (an
    ellipsis marking the cut) before any markdown escape, which a cut must not split."""
    flat = one_line(" ".join(text.split()))
    if limit is not None and len(flat) > limit:
        return flat[: limit - 1] + "…"
    return flat


_MARKDOWN_ESCAPES = {
    **{char: "\\" + char for char in "\\`*_[]~|$"},
    "<": "&lt;",
    "&": "&amp;",
    "@": "`@`",
    "#": "`#`",
    ":": "&#58;",
    ".": "&#46;",
}
# ``:`` and ``.`` only where they would start an autolink; elsewhere they stay as they are.
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]~|$<&@#]|:(?=//)|(?<=[wW]{3})\.")
# What most text lacks, checked first: a character class alone is the fastest scan.
_MARKDOWN_CHARS = re.compile(r"[\\`*_\[\]~|$<&@#]")


def _markdown_escape(match: re.Match[str]) -> str:
    return _MARKDOWN_ESCAPES[match.group()]


def markdown_text(text: str, limit: int | None = None) -> str:
    """``text`` as inert inline markdown (a table cell, or within a line): one line, no
    formatting, link, image, HTML, mention or reference of its own; at most ``limit``
    characters of it shown."""
    flat = _flat(text, limit)
    if _MARKDOWN_CHARS.search(flat) is None and "://" not in flat and "www." not in flat.lower():
        return flat
    return _MARKDOWN_SPECIAL.sub(_markdown_escape, flat)


_BACKTICK_RUN = re.compile(r"`+")


def markdown_code(text: str, limit: int | None = None) -> str:
    """``text`` as a code span in a table cell, shown exactly (a name, an id): one line,
    delimited by more backticks than any run inside it, ``|`` escaped for the table (GitHub
    reads ``\\|`` as ``|`` inside a cell's code span too). A code span is never formatted,
    linked or mentioned."""
    flat = _flat(text, limit).replace("|", "\\|")
    if not flat:
        return "` `"
    if "`" not in flat:
        return f"`{flat}`"
    fence = "`" * (max(len(run) for run in _BACKTICK_RUN.findall(flat)) + 1)
    # One space on each side is stripped by the reader: added when the text would otherwise
    # touch the fence with a backtick, or lose a space it starts and ends with.
    padded = flat.startswith(("`", " ")) or flat.endswith(("`", " "))
    return f"{fence} {flat} {fence}" if padded else f"{fence}{flat}{fence}"


def json_dumps(value: Any, **options: Any) -> str:
    """``json.dumps(value, **options)`` with ASCII output: non-ASCII characters (ESC and C1
    controls, bidi controls) escaped as ``\\uXXXX``, so that they read back exactly but never
    reach a terminal or a log viewer raw."""
    return json.dumps(value, ensure_ascii=True, **options)
