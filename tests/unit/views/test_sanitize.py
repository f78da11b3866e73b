"""The sanitiser on its own: terminal lines, markdown prose and code spans, JSON."""

from __future__ import annotations

import json
import re
import time

import pytest

from reconciler.sanitize import json_dumps, one_line
from reconciler.views.markdown import markdown_code, markdown_text
from tests.support.markdown import code_spans, live_pipes, unescaped

# Characters that drive a terminal, break a line, or reorder what follows them.
UNSAFE = [
    "\x1b",  # ESC: colours, clear screen, cursor moves, OSC title
    "\x07",  # BEL: ends an OSC sequence
    "\r",  # carriage return: the rest of the line overwrites its start
    "\n",  # line feed: a line of its own
    "\t",
    "\x00",
    "\x7f",  # DEL
    "\x85",  # NEL, a C1 line break
    "\x9b",  # CSI, the one-byte ESC [
    "\u2028",  # line separator
    "\u2029",  # paragraph separator
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",  # bidi embeddings and overrides
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",  # bidi isolates
    "\u200e",
    "\u200f",
    "\u061c",  # directional marks
    "\u200b",
    "\u200d",
    "\u2060",
    "\ufeff",  # zero-width space, joiner, word joiner, byte order mark
    "\ud800",  # a lone surrogate
    "\U000e0041",  # a tag character
]


@pytest.mark.parametrize("char", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_one_line_shows_every_unsafe_character_as_its_escape(char: str) -> None:
    shown = one_line(f"a{char}b")
    assert char not in shown
    assert shown == "a" + repr(char)[1:-1] + "b"
    assert shown.isprintable()


def test_one_line_escapes_as_repr_does() -> None:
    text = "boom\x1b]0;pwned\x07\r\nok\u202eevil\U000e0041"
    assert one_line(text) == repr(text)[1:-1]


def test_printable_text_comes_back_as_the_same_object() -> None:
    text = "in sync; TRAINING_INITIATED — ünïcödé 日本語 🦊 (seg-11)"
    assert one_line(text) is text


def test_one_line_is_fast_on_plain_text() -> None:
    texts = [f"in sync; training job {i} of the mascot (FLUX_PRO, private)" for i in range(50_000)]
    started = time.perf_counter()
    for text in texts:
        one_line(text)
    # 50,000 reasons in well under a tenth of a second: a check per string, no copy.
    assert time.perf_counter() - started < 0.1


# --- markdown ------------------------------------------------------------------------------


HOSTILE_MARKDOWN = [
    "@org/team please look",
    "cc @someone",
    "[click](https://evil.example)",
    "![img](https://evil.example/x.png)",
    "<img src=x onerror=alert(1)>",
    "<a href='https://evil.example'>x</a>",
    "<details open><summary>x</summary>",
    "<https://evil.example>",
    "bare https://evil.example/path and http://evil.example",
    "www.evil.example",
    "fixes #12 and org/repo#34",
    "**bold** _em_ ~~gone~~ `code` $x^2$",
    "a | b | c",
    "ends with a backslash \\",
    "&lt;img src=x&gt; &#64;org",
    "line one\nline two\r\n| forged | row |",
    "\x1b[2J\u202egnp.exe",
]


@pytest.mark.parametrize("text", HOSTILE_MARKDOWN)
def test_markdown_text_opens_nothing(text: str) -> None:
    shown = markdown_text(text)
    assert "\n" not in shown and "\r" not in shown
    assert "\x1b" not in shown and "\u202e" not in shown
    # Only the sanitiser's own entities; the text's are shown, not read.
    outside, spans = code_spans(shown)
    outside = re.sub(r"&(lt|amp|#58|#46);", "", outside)
    # No mention or reference: `@` and `#` stand only in code spans of their own.
    assert "@" not in outside and "#" not in outside
    # No link, image, emphasis, code span, strikethrough or math of the text's own.
    assert unescaped(outside, "[]`*_~$") == []
    # No HTML tag or entity, no autolink.
    assert "<" not in outside and "&" not in outside
    assert "://" not in outside and "www." not in outside.lower()
    # A table row keeps its cells.
    assert live_pipes(shown) == 0
    # What remains inside code spans is the single characters put there.
    assert set(spans) <= {"`@`", "`#`"}


def test_markdown_text_reads_the_same_when_rendered() -> None:
    # Undo the escapes as a renderer does: the text shown is the text given, folded to a line.
    text = "a [b](c) <d> & e @f #1 https://g www.h *i* _j_ ~k~ $l$ |m| `n` \\o"
    shown = markdown_text(text)
    rendered = (
        re.sub(r"\\(.)", r"\1", shown.replace("`@`", "@").replace("`#`", "#"))
        .replace("&lt;", "<")
        .replace("&#58;", ":")
        .replace("&#46;", ".")
        .replace("&amp;", "&")
    )
    assert rendered == text


def test_markdown_text_folds_whitespace_and_cuts_before_escaping() -> None:
    assert markdown_text("a\n\n b\tc") == "a b c"
    cut = markdown_text("|" * 50, limit=10)
    assert cut == "\\|" * 9 + "…"


@pytest.mark.parametrize(
    "text",
    ["plain-name", "a`b", "``x``", "`lead", "trail`", "a|b", "a\\|b", "@org/team", "x\ny"],
)
def test_markdown_code_shows_the_text_exactly_in_one_span(text: str) -> None:
    shown = markdown_code(text)
    fence = re.match(r"`+", shown)
    assert fence is not None and shown.endswith(fence.group())
    inner = shown[len(fence.group()) : -len(fence.group())]
    # The fence is longer than any backtick run inside, so nothing closes the span early.
    assert all(len(run) < len(fence.group()) for run in re.findall(r"`+", inner))
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
        inner = inner[1:-1]
    assert inner.replace("\\|", "|") == " ".join(text.split())
    assert live_pipes(shown) == 0


def test_markdown_code_of_nothing_is_a_span() -> None:
    assert markdown_code("") == "` `"


# --- JSON ----------------------------------------------------------------------------------


def test_json_reads_back_exactly_and_is_ascii() -> None:
    value = {"message": "boom\x1b]0;pwned\x07\r\n\u202eevil\x9b2J ünï 🦊"}
    text = json_dumps(value, indent=2, sort_keys=True)
    assert text.isascii()
    assert json.loads(text) == value
    assert "\\u202e" in text and "\\u001b" in text and "\\u009b" in text
