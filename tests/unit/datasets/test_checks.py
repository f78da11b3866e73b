"""Dataset checks per provider: every good case passes, every bad case names file, line and fix."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from reconciler.core.spec import Provider
from reconciler.datasets import lines as lines_module
from reconciler.datasets.archive import write_zip
from reconciler.datasets.problems import MAX_PROBLEMS_PER_FILE, DatasetProblem
from reconciler.providers.cohere.checks import (
    check_cohere_chat,
    check_cohere_classification,
    check_cohere_rerank,
)
from reconciler.providers.dataset_checks import check_dataset
from reconciler.providers.qubrid.checks import check_qubrid_csv
from reconciler.providers.segmind.checks import check_segmind_folder, check_segmind_zip
from tests.support.paths import REPO


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20
WEBP = b"RIFF\x20\x00\x00\x00WEBPVP8 " + b"\x00" * 20


def messages(problems: list[DatasetProblem]) -> str:
    return "\n".join(str(p) for p in problems)


def only(problems: list[DatasetProblem]) -> DatasetProblem:
    assert len(problems) == 1, messages(problems)
    return problems[0]


# The example datasets of the repo ------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "path", "options"),
    [
        ("segmind", "datasets/mascot", {}),
        ("qubrid", "datasets/support-qa.csv", {"task_type": "qa"}),
        ("qubrid", "datasets/release-notes.csv", {"task_type": "not_qa"}),
        ("cohere", "datasets/support-chat.jsonl", {}),
        ("cohere", "datasets/support-chat.jsonl", {"dataset_type": "chat-finetune-input"}),
        ("cohere", "datasets/ticket-labels.csv", {}),
        (
            "cohere",
            "datasets/ticket-labels.csv",
            {"dataset_type": "single-label-classification-finetune-input"},
        ),
    ],
)
def test_the_example_datasets_pass(provider: Provider, path: str, options: dict[str, str]) -> None:
    assert check_dataset(provider, REPO / path, **options) == []


def test_the_example_datasets_stay_small() -> None:
    total = sum(p.stat().st_size for p in (REPO / "datasets").rglob("*") if p.is_file())
    assert total < 64 * 1024


# Segmind folders -----------------------------------------------------------------------------


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    (root / "one.png").write_bytes(png())
    (root / "two.JPG").write_bytes(JPEG)
    (root / "three.jpeg").write_bytes(JPEG)
    (root / "four.WebP").write_bytes(WEBP)
    (root / "one.txt").write_text("photo of TOK", encoding="utf-8")
    (root / ".DS_Store").write_bytes(b"\x00junk")
    (root / "Thumbs.db").write_bytes(b"junk")
    return root


def test_segmind_folder_of_images_and_captions_passes(images: Path) -> None:
    assert check_segmind_folder(images) == []
    assert check_dataset("segmind", images) == []


def test_segmind_subfolder_quotes_segmind_failure(images: Path) -> None:
    (images / "more").mkdir()
    (images / "more" / "five.png").write_bytes(png())
    problem = only(check_segmind_folder(images))
    assert problem.path == images / "more"
    assert problem.line is None
    assert "Please do not create subfolders, only zip the images" in problem.message


def test_segmind_folder_without_images(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    (root / ".hidden.png").write_bytes(png())
    assert "no images" in only(check_segmind_folder(root)).message


def test_segmind_folder_with_only_a_subfolder_reports_both(tmp_path: Path) -> None:
    root = tmp_path / "nested"
    (root / "inner").mkdir(parents=True)
    (root / "inner" / "a.png").write_bytes(png())
    text = messages(check_segmind_folder(root))
    assert "do not create subfolders" in text
    assert "no images" in text


def test_segmind_other_file_types_are_problems(images: Path) -> None:
    (images / "notes.pdf").write_bytes(b"%PDF")
    (images / "photo.gif").write_bytes(b"GIF89a")
    problems = check_segmind_folder(images)
    assert {p.path.name for p in problems} == {"notes.pdf", "photo.gif"}
    assert all(p.message.startswith("neither an image") for p in problems)


def test_segmind_caption_without_image(images: Path) -> None:
    (images / "orphan.txt").write_text("a caption", encoding="utf-8")
    problem = only(check_segmind_folder(images))
    assert problem.path == images / "orphan.txt"
    assert problem.message.startswith("a caption without an image of the same name")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("fake.png", JPEG, "not a PNG image"),
        ("fake.jpg", png(), "not a JPEG image"),
        ("fake.webp", b"RIFF\x00\x00\x00\x00WAVE", "not a WebP image"),
        ("empty.png", b"", "empty"),
    ],
)
def test_segmind_image_content_must_match_its_name(
    images: Path, name: str, content: bytes, expected: str
) -> None:
    (images / name).write_bytes(content)
    problem = only(check_segmind_folder(images))
    assert problem.path == images / name
    assert expected in problem.message


def test_segmind_caption_must_be_utf8(images: Path) -> None:
    (images / "one.txt").write_bytes(b"caf\xe9")
    assert "not UTF-8" in only(check_segmind_folder(images)).message


def test_segmind_symbolic_link_is_a_problem(images: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(png())
    (images / "linked.png").symlink_to(outside)
    problem = only(check_segmind_folder(images))
    assert problem.path == images / "linked.png"
    assert "symbolic link" in problem.message


def sparse(path: Path, head: bytes, size: int) -> None:
    """A file of ``size`` bytes that takes no disk space beyond ``head``."""
    with path.open("wb") as handle:
        handle.write(head)
        handle.truncate(size)


def test_segmind_zip_size_limit_is_computed_without_building_it(images: Path) -> None:
    sparse(images / "huge.png", png(), 100_000_000 - 2_000)
    assert check_segmind_folder(images) == []  # the zip stays just under 100 MB
    sparse(images / "huge2.png", png(), 2_000)
    problem = only(check_segmind_folder(images))
    assert "the zip would be 100.0 MB" in problem.message
    assert "under 100.0 MB" in problem.message


def test_segmind_dataset_that_is_not_a_folder_or_zip(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("a,b\n")
    assert "folder of images or a .zip" in only(check_dataset("segmind", path)).message


# Segmind zips --------------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_segmind_zip_of_our_own_making_passes(images: Path, tmp_path: Path) -> None:
    path = tmp_path / "images.zip"
    with path.open("wb") as out:
        write_zip(images, out)
    assert check_segmind_zip(path) == []
    assert check_dataset("segmind", path) == []


def test_segmind_zip_with_macos_litter_passes(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "mac.zip",
        {"a.png": png(), "a.txt": b"TOK", "__MACOSX/._a.png": b"x", ".DS_Store": b"x"},
    )
    assert check_segmind_zip(path) == []


def test_segmind_zip_with_subfolders(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "nested.zip", {"photos/a.png": png(), "photos/b.png": png()})
    text = messages(check_segmind_zip(path))
    assert "Please do not create subfolders, only zip the images" in text
    assert "'photos'" in text
    assert "no images" in text


def test_segmind_zip_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"this is not a zip at all")
    assert "not a readable zip" in only(check_segmind_zip(path)).message


def test_segmind_zip_too_large(tmp_path: Path) -> None:
    path = tmp_path / "large.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.png", png())
    sparse(path, buffer.getvalue(), 100_000_000)
    assert "Segmind takes under 100.0 MB" in only(check_segmind_zip(path)).message


def test_segmind_zip_with_other_files_and_orphan_captions(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "mixed.zip", {"a.png": png(), "b.txt": b"x", "c.psd": b"x"})
    text = messages(check_segmind_zip(path))
    assert "in the zip, 'b.txt' is a caption without an image" in text
    assert "in the zip, 'c.psd' is neither an image" in text


# Qubrid CSV ----------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_qubrid_qa_and_not_qa_pass(tmp_path: Path) -> None:
    qa = write(tmp_path, "qa.csv", 'question,answer,source\nWhat?,"Yes, this",doc\nWhy?,Because,\n')
    text = write(tmp_path, "text.csv", 'text\r\n"multi\r\nline"\r\n5" screen\r\nno newline')
    assert check_qubrid_csv(qa, task_type="qa") == []
    assert check_qubrid_csv(text, task_type="not_qa") == []
    assert check_dataset("qubrid", qa, task_type="qa") == []


def test_qubrid_columns_can_be_overridden(tmp_path: Path) -> None:
    path = write(tmp_path, "custom.csv", "prompt,completion\nHi,Hello\n")
    assert "lacks 'question', 'answer'" in only(check_qubrid_csv(path, task_type="qa")).message
    assert check_qubrid_csv(path, task_type="qa", csv_columns=["prompt", "completion"]) == []
    problem = only(check_dataset("qubrid", path, task_type="qa", csv_columns=("prompt", "body")))
    assert "lacks 'body'" in problem.message
    assert "csv_columns" in problem.message


def test_qubrid_missing_columns_says_how_to_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "noheader.csv", "What is it?,A thing\nWhy?,Because\n")
    problem = only(check_qubrid_csv(path, task_type="qa"))
    assert problem.line == 1
    assert "'question,answer'" in problem.message
    assert "set csv_columns in the spec" in problem.message


def test_qubrid_malformed_rows_are_reported_by_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rows.csv",
        "question,answer\nok,fine\ntoo,many,fields\n\n  ,empty question\nlast,one\n",
    )
    problems = check_qubrid_csv(path, task_type="qa")
    assert [(p.line, p.path) for p in problems] == [(3, path), (5, path)]
    assert "3 fields, but the header has 2" in problems[0].message
    assert "empty 'question'" in problems[1].message


def test_qubrid_line_numbers_count_multi_line_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "multi.csv", 'question,answer\n"a\nb\nc",d\nx,\n')
    assert only(check_qubrid_csv(path, task_type="qa")).line == 5


def test_qubrid_unclosed_quote_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "quote.csv", 'question,answer\nok,fine\n"broken,answer\nmore,rows\n')
    problem = only(check_qubrid_csv(path, task_type="qa"))
    assert problem.line == 3
    assert "not valid CSV" in problem.message


def test_qubrid_runaway_quote_stops_at_the_field_limit(tmp_path: Path) -> None:
    body = "question,answer\nok,fine\n" + '"never closed\n' + "x,y\n" * 70_000
    problem = only(check_qubrid_csv(write(tmp_path, "runaway.csv", body), task_type="qa"))
    assert problem.line == 3
    assert "field larger than field limit" in problem.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("question,answer\n", "no rows"),
        ("question,answer\n\n\n", "no rows"),
        ("question,question,answer\na,b,c\n", "more than once"),
    ],
)
def test_qubrid_shape_problems(tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path, "shape.csv", content)
    assert expected in only(check_qubrid_csv(path, task_type="qa")).message


def test_qubrid_not_utf8_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "latin1.csv", "question,answer\nok,fine\ncaf\xe9,bad\n".encode("latin-1")
    )
    problem = only(check_qubrid_csv(path, task_type="qa"))
    assert problem.line == 3
    assert "not UTF-8" in problem.message
    assert "0xe9" in problem.message


def test_qubrid_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbfquestion,answer\nq,a\n")
    assert check_qubrid_csv(path, task_type="qa") == []


def test_qubrid_without_task_type_checks_only_the_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "any.csv", "anything\nvalue\n")
    assert check_qubrid_csv(path) == []


def test_qubrid_takes_only_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "data.jsonl", "{}\n")
    assert "CSV" in only(check_dataset("qubrid", path, task_type="qa")).message
    assert "a folder" in only(check_dataset("qubrid", tmp_path, task_type="qa")).message


def test_problems_per_file_are_capped_and_counted(tmp_path: Path) -> None:
    rows = "".join(f"q{i},\n" for i in range(MAX_PROBLEMS_PER_FILE + 7))
    problems = check_qubrid_csv(
        write(tmp_path, "many.csv", "question,answer\n" + rows), task_type="qa"
    )
    assert len(problems) == MAX_PROBLEMS_PER_FILE + 1
    assert problems[-1].line is None
    assert "7 more problems not listed" in problems[-1].message


def test_an_overlong_line_ends_the_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lines_module, "MAX_LINE_BYTES", 1024)
    path = write(tmp_path, "long.csv", "text\nshort\n" + "x" * 2000 + "\nafter\n")
    problem = only(check_qubrid_csv(path, task_type="not_qa"))
    assert problem.line == 3
    assert "line longer than" in problem.message


def test_an_unreadable_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    # A folder named like a file fails to open even for root, unlike a chmod 0 file.
    path = tmp_path / "looks-like.csv"
    path.mkdir()
    problem = only(check_qubrid_csv(path, task_type="not_qa"))
    assert "cannot read the file" in problem.message


# Cohere chat ---------------------------------------------------------------------------------


def conversation(*turns: tuple[str, str]) -> str:
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in turns]})


GOOD = conversation(("System", "Be brief."), ("User", "Hi"), ("Chatbot", "Hello!"))


def test_cohere_chat_passes(tmp_path: Path) -> None:
    path = write(
        tmp_path, "chat.jsonl", f"{GOOD}\n\n{conversation(('User', 'a'), ('Chatbot', 'b'))}\n"
    )
    assert check_cohere_chat(path) == []
    assert check_dataset("cohere", path) == []


def test_cohere_chat_bad_lines_are_each_reported(tmp_path: Path) -> None:
    lines = [
        GOOD,
        "{not json",
        conversation(("user", "lowercase role")),
        json.dumps({"messages": [{"role": "User"}]}),
        json.dumps({"messages": []}),
        json.dumps(["a", "list"]),
        json.dumps({"messages": ["text"]}),
        GOOD,
    ]
    problems = check_cohere_chat(write(tmp_path, "chat.jsonl", "\n".join(lines) + "\n"))
    assert [p.line for p in problems] == [2, 3, 4, 5, 6, 7]
    text = messages(problems)
    assert "not valid JSON" in text
    assert "messages[0].role is 'user'; use one of System, User, Chatbot" in text
    assert "messages[0].content must be a string" in text
    assert '"messages" is empty' in text


def test_cohere_chat_needs_two_conversations(tmp_path: Path) -> None:
    problem = only(check_cohere_chat(write(tmp_path, "one.jsonl", GOOD + "\n")))
    assert problem.line is None
    assert "1 valid conversation;" in problem.message
    assert "at least 2" in problem.message


def test_cohere_chat_must_be_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path, "chat.csv", "text,label\n")
    problem = only(check_dataset("cohere", path, dataset_type="chat-finetune-input"))
    assert "JSONL" in problem.message


# Cohere classification and rerank ------------------------------------------------------------


def labelled_csv(counts: dict[str, int]) -> str:
    rows = [f"example {label} {i},{label}" for label, n in counts.items() for i in range(n)]
    return "text,label\n" + "\n".join(rows) + "\n"


def test_cohere_classification_csv_passes(tmp_path: Path) -> None:
    path = write(tmp_path, "labels.csv", labelled_csv({"a": 20, "b": 20}))
    assert check_cohere_classification(path) == []


def test_cohere_classification_counts(tmp_path: Path) -> None:
    path = write(tmp_path, "labels.csv", labelled_csv({"a": 30, "b": 4, "c": 5}))
    text = messages(check_cohere_classification(path))
    assert "39 valid examples; Cohere classification needs at least 40" in text
    assert "label 'b' has 4 examples; Cohere needs at least 5 per label" in text
    assert "'c'" not in text


def test_cohere_classification_needs_two_labels(tmp_path: Path) -> None:
    path = write(tmp_path, "labels.csv", labelled_csv({"only": 45}))
    assert "1 distinct label(s)" in only(check_cohere_classification(path)).message


def test_cohere_classification_missing_columns_is_one_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "labels.csv", "sentence,category\na,b\n")
    problem = only(check_dataset("cohere", path))
    assert "'text,label'" in problem.message


def test_cohere_single_label_jsonl(tmp_path: Path) -> None:
    rows = [json.dumps({"text": f"t{i}", "label": "ab"[i % 2]}) for i in range(40)]
    rows.append(json.dumps({"text": "", "label": "a"}))
    path = write(tmp_path, "labels.jsonl", "\n".join(rows) + "\n")
    problem = only(
        check_dataset("cohere", path, dataset_type="single-label-classification-finetune-input")
    )
    assert problem.line == 41
    assert '"text" must be a non-empty string' in problem.message


def test_cohere_multi_label_jsonl(tmp_path: Path) -> None:
    rows = [json.dumps({"text": f"t{i}", "label": ["x", "y"]}) for i in range(41)]
    path = write(tmp_path, "multi.jsonl", "\n".join(rows) + "\n")
    kind = "multi-label-classification-finetune-input"
    assert check_dataset("cohere", path, dataset_type=kind) == []
    rows[3] = json.dumps({"text": "t", "label": "x"})
    path.write_text("\n".join(rows) + "\n")
    problem = only(check_dataset("cohere", path, dataset_type=kind))
    assert problem.line == 4
    assert "list of strings" in problem.message
    csv_path = write(tmp_path, "multi.csv", labelled_csv({"a": 40}))
    assert "JSONL" in only(check_dataset("cohere", csv_path, dataset_type=kind)).message


def test_cohere_rerank(tmp_path: Path) -> None:
    def example(i: int) -> str:
        return json.dumps({"query": f"q{i}", "relevant_passages": ["p"], "hard_negatives": ["n"]})

    path = write(tmp_path, "rerank.jsonl", "\n".join(example(i) for i in range(256)) + "\n")
    assert check_cohere_rerank(path) == []
    assert check_dataset("cohere", path, dataset_type="reranker-finetune-input") == []
    few = write(tmp_path, "few.jsonl", "\n".join(example(i % 10) for i in range(300)) + "\n")
    assert "10 unique valid queries" in only(check_cohere_rerank(few)).message
    bad = write(tmp_path, "bad.jsonl", json.dumps({"query": "q", "relevant_passages": []}) + "\n")
    assert [p.line for p in check_cohere_rerank(bad)] == [1, None]


def test_cohere_unknown_type_and_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "data.txt", "hello\n")
    assert "JSONL" in only(check_dataset("cohere", path)).message
    jsonl = write(tmp_path, "data.jsonl", GOOD + "\n")
    problem = only(check_dataset("cohere", jsonl, dataset_type="embed-input"))
    assert "not a Cohere fine-tuning type" in problem.message


# The entry point -----------------------------------------------------------------------------


def test_missing_dataset_and_unknown_provider(tmp_path: Path) -> None:
    assert "does not exist" in only(check_dataset("qubrid", tmp_path / "nope.csv")).message
    path = write(tmp_path, "x.csv", "text\nx\n")
    assert "unknown provider" in only(check_dataset("openai", path)).message  # type: ignore[arg-type]


def test_problem_renders_with_and_without_a_line() -> None:
    assert str(DatasetProblem(Path("d/x.csv"), 3, "bad")) == "d/x.csv:3: bad"
    assert str(DatasetProblem(Path("d/x.csv"), None, "bad")) == "d/x.csv: bad"
