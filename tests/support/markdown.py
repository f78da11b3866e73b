"""How GitHub's markdown reads a text (code spans, unescaped characters, the pipes that split
a table row): used to prove that escaped text stays inert."""

from __future__ import annotations

import re


def code_spans(text: str) -> tuple[str, list[str]]:
    """``text`` without its code spans, and the spans, as CommonMark reads them: a run of n
    backticks (not backslash-escaped) opens one, the next run of exactly n closes it."""
    out: list[str] = []
    spans: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        if text[i] == "`":
            run = re.match(r"`+", text[i:])
            assert run is not None
            fence = run.group()
            closing = re.compile(rf"(?<!`){fence}(?!`)")
            end = closing.search(text, i + len(fence))
            if end is None:
                out.append(fence)
                i += len(fence)
            else:
                spans.append(text[i : end.end()])
                i = end.end()
            continue
        out.append(text[i])
        i += 1
    return "".join(out), spans


def unescaped(text: str, chars: str) -> list[str]:
    """The characters of ``chars`` in ``text`` that no backslash escapes."""
    found = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in chars:
            found.append(text[i])
        i += 1
    return found


def live_pipes(text: str) -> int:
    """Pipes that end a table cell: GFM splits a row at every ``|`` no backslash precedes,
    before reading anything else (code spans included)."""
    return len(re.findall(r"(?<!\\)\|", text))
