"""The one markdown escaper: untrusted text made inert for GitHub, used by every markdown view.

Provider answers (job names, statuses, failure messages, error bodies) and names from the
repository reach a pull-request comment or a job summary only through this module:
``markdown_text`` for prose, ``markdown_code`` for names and ids shown exactly, and their table
cell forms ``text_cell`` and ``code_cell``, which also bound a cell's length so that one huge
provider message cannot push every other row out of a comment (GitHub's limit is 65,536
characters).

The text is first made one line as ``reconciler.sanitize.one_line`` does, with runs of
whitespace (line breaks included) folded into one space, and cut to a length when asked. Then
it can neither break its table, nor format, link, embed, or notify anyone:

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
"""

from __future__ import annotations

import re

from reconciler.sanitize import one_line

# The longest cell of a markdown table, in characters of text before escaping.
CELL_LIMIT = 600


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


def text_cell(text: str) -> str:
    """Prose in a table cell (a reason, a status, a message): inert, at most
    ``CELL_LIMIT`` characters of it shown."""
    return markdown_text(text, CELL_LIMIT)


def code_cell(text: str) -> str:
    """A name or an id in a table cell, shown exactly in a code span, at most
    ``CELL_LIMIT`` characters of it shown."""
    return markdown_code(text, CELL_LIMIT)
