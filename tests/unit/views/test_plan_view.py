"""The three renderers: golden text/markdown/JSON of a representative plan, colour only when
asked, markdown truncation under the comment limit (reading saved plans back:
tests/unit/planfile/test_planfile.py).

Regenerate the golden files after an intended change with
``RECONCILE_UPDATE_GOLDEN=1 pytest tests/unit/views/test_plan_view.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from reconciler.core.action import Action
from reconciler.core.observed import ObservedState, ProviderObservation
from reconciler.core.plan import Plan
from reconciler.core.spec import DatasetKind, DatasetRef
from reconciler.diff import plan
from reconciler.planfile import plan_to_json
from reconciler.views.plan import MARKDOWN_LIMIT, render_markdown, render_text, summary_line
from reconciler.views.sizes import human_size
from tests.support.diff_builders import (
    DATASET_DIR,
    FP_A,
    OWNER,
    desired,
    job,
    observed,
    options,
    spec,
)
from tests.support.paths import GOLDEN, REPO
from tests.support.plans import representative_plan

ANSI = re.compile(r"\033\[")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("RECONCILE_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_the_representative_plan_has_one_of_everything() -> None:
    result = representative_plan()
    actions = {(c.name, c.action, c.blocked is not None) for c in result.changes}
    assert actions == {
        ("mascot-flux-pro-v1", Action.CREATE, False),
        ("mascot-public", Action.UPDATE, False),
        ("mascot-retrained", Action.REPLACE, True),
        ("mascot-steady", Action.NOOP, False),
        ("mascot-broken", Action.NOOP, False),
        ("mascot-legacy", Action.CREATE, True),
        ("old-mascot", Action.DELETE, True),
        ("support-bot", Action.CREATE, False),
        ("old-bot", Action.DELETE, False),
        ("ticket-router", Action.NOOP, False),
    }


def test_golden_text() -> None:
    check_golden(
        "plan.txt", render_text(representative_plan(), color=False, relative_to=Path("/repo"))
    )


def test_golden_text_with_unchanged_jobs() -> None:
    shown = render_text(
        representative_plan(), color=False, relative_to=Path("/repo"), show_unchanged=True
    )
    check_golden("plan-unchanged.txt", shown)


def test_golden_markdown() -> None:
    check_golden("plan.md", render_markdown(representative_plan(), relative_to=Path("/repo")))


def test_golden_json() -> None:
    check_golden("plan.json", plan_to_json(representative_plan()))


def test_no_colour_codes_without_colour_and_some_with_it() -> None:
    result = representative_plan()
    assert not ANSI.search(render_text(result, color=False))
    coloured = render_text(result, color=True)
    assert "\033[32m  +\033[0m" in coloured
    assert ANSI.sub("", re.sub(r"\033\[[0-9;]*m", "", coloured)) == render_text(result, color=False)


def test_no_signature_reaches_any_rendering() -> None:
    result = representative_plan()
    for text in (render_text(result, color=False), render_markdown(result), plan_to_json(result)):
        assert "SECRET" not in text
        assert "X-Amz" not in text


def test_the_summary_line() -> None:
    line = (
        "Plan: 3 to create, 1 to update, 1 to replace, 1 to delete; 3 unchanged; 2 blocked;"
        " 1 warning"
    )
    assert summary_line(representative_plan().summary) == line
    assert render_text(representative_plan(), color=False).endswith(line + "\n")


def test_an_empty_plan_is_only_the_summary() -> None:
    empty = plan([], observed(), options())
    assert render_text(empty, color=False) == (
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete; 0 unchanged; 0 blocked\n"
    )


def test_an_unread_provider_is_said_first_and_its_specs_only_counted() -> None:
    specs = [desired(spec(name="a")), desired(spec(name="b")), desired(spec("c", "cohere"))]
    unread = "segmind: listing fine-tunes: no API key is set; set SEGMIND_API_KEY to your key"
    result = plan(specs, observed(incomplete={"segmind": unread}), options())
    lines = render_text(result, color=False).splitlines()
    assert lines[:2] == [
        "! segmind could not be read: listing fine-tunes: no API key is set; set"
        " SEGMIND_API_KEY to your key",
        "    2 specs not planned: segmind could not be read; nothing is sent there until it is"
        " (fix the cause and plan again)",
    ]
    # Nothing is claimed about segmind's jobs; the provider that was read is planned.
    text = "\n".join(lines)
    assert text.count("no remote job has this name") == 1  # cohere's c, which was read
    assert [line.split()[1] for line in lines if line.lstrip().startswith("+")] == ["c"]
    assert "segmind:" not in lines
    assert lines[-1].endswith("; 0 blocked; 2 not planned")
    markdown = render_markdown(result)
    assert markdown.count("no remote job has this name") == 1
    assert "> **segmind** could not be read: listing fine-tunes" in markdown
    assert "2 specs not planned: segmind could not be read" in markdown
    assert markdown.index("could not be read") < markdown.index("#### cohere")
    document = json.loads(plan_to_json(result))
    assert [c["name"] for c in document["changes"]] == ["c"]
    assert document["incomplete"] == [
        {"provider": "segmind", "error": unread, "refused": False, "not_planned": ["a", "b"]}
    ]


def test_a_refusing_provider_is_said_once_before_its_changes() -> None:
    refusal = "Segmind stopped fine-tuning on 2030-01-01; move these specs"
    observation = ProviderObservation("segmind", complete=False, error="e", refused=refusal)
    specs = [desired(spec(name="a")), desired(spec(name="b"))]
    result = plan(specs, ObservedState.of(observation), options())
    text = render_text(result, color=False)
    assert text.count(refusal) == 1
    lines = text.splitlines()
    assert lines[0] == f"! segmind: {refusal}"  # above the changes that point at it
    assert text.count("blocked: segmind refuses fine-tuning: see above") == 2
    assert "not fully observed" not in text
    markdown = render_markdown(result)
    assert markdown.count(refusal) == 1
    assert markdown.count("segmind refuses fine-tuning: see above") == 2
    assert markdown.index(refusal) < markdown.index("#### segmind")


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (12_345_678, "12.3 MB"),
        (5 * 10**12, "5000.0 GB"),
    ],
)
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown


# --- markdown truncation -------------------------------------------------------------------


def big_plan(count: int) -> Plan:
    specs = [desired(spec(f"job-{i:05d}", parameters={"iterations": 300})) for i in range(count)]
    failing = [
        job(
            f"job-{i:05d}",
            status="FAILED",
            error_message="x" * 5000,
            parameters={"iterations": 300},
        )
        for i in range(0, count, 2)
    ]
    return plan(specs, observed(*failing), options())


def test_markdown_stays_under_the_limit_and_counts_what_it_left_out() -> None:
    result = big_plan(3000)
    text = render_markdown(result)
    assert len(text) < MARKDOWN_LIMIT
    shown = len(re.findall(r"^\| (`\+`|`job-)", text, flags=re.M))
    match = re.search(r"_(\d+) more rows left out to fit a comment", text)
    assert match is not None
    assert shown + int(match.group(1)) == len(result.changes)
    assert text.count("<details>") == text.count("</details>")


def test_markdown_of_a_small_plan_leaves_nothing_out() -> None:
    text = render_markdown(big_plan(10))
    assert "left out" not in text
    assert len(re.findall(r"^\| (`\+`|`job-)", text, flags=re.M)) == 10


@pytest.mark.parametrize("limit", [2_000, 5_000, 20_000])
def test_markdown_respects_any_limit(limit: int) -> None:
    text = render_markdown(big_plan(200), limit=limit)
    assert len(text) <= limit
    assert "left out" in text


def test_a_huge_provider_message_is_cut_in_its_cell() -> None:
    text = render_markdown(big_plan(2))
    assert "x" * 700 not in text
    assert "…" in text


def test_upload_lines_show_size_and_fingerprint() -> None:
    text = render_text(representative_plan(), color=False, relative_to=Path("/repo"))
    assert (
        f"upload datasets/mascot (12.3 MB, fingerprint {FP_A[:12]})"
        f" as {OWNER}--mascot-flux-pro-v1-rc{FP_A[:12]}.zip"
    ) in text
    assert str(DATASET_DIR) not in text


def test_the_documented_example_is_a_real_plan_excerpt() -> None:
    docs = (REPO / "docs" / "plans.md").read_text(encoding="utf-8")
    example = json.loads(docs.split("```json\n", 1)[1].split("```", 1)[0])
    whole = json.loads(plan_to_json(representative_plan()))
    assert example["changes"] == [
        c for c in whole["changes"] if c["name"] == example["changes"][0]["name"]
    ]
    assert example["unmanaged"] == whole["unmanaged"][:1]
    # The items are an excerpt too: a few of them, exactly as written.
    assert example["snapshot_items"].items() <= whole["snapshot_items"].items()
    excerpts = ("changes", "unmanaged", "snapshot_items")
    assert {k: v for k, v in example.items() if k not in excerpts} == {
        k: v for k, v in whole.items() if k not in excerpts
    }


def test_a_spec_urls_query_stays_out_of_the_plan_file_but_not_out_of_the_snapshot() -> None:
    signed = "https://bucket.test/mascot.zip?X-Amz-Signature=SECRET"
    the_spec = spec(dataset=DatasetRef(DatasetKind.URL, signed))
    result = plan([desired(the_spec)], observed(), options())
    text = plan_to_json(result)
    assert "SECRET" not in text
    assert "https://bucket.test/mascot.zip" in text
    other = spec(dataset=DatasetRef(DatasetKind.URL, "https://bucket.test/mascot.zip?v=2"))
    assert plan([desired(other)], observed(), options()).snapshot != result.snapshot


def test_provider_text_cannot_drive_the_terminal() -> None:
    hostile = job("x", fingerprint=None, dataset_ref="https://x.test/a.zip", status="\x1b[2J")
    failing = job("mascot", status="FAILED", error_message="boom\x1b]0;title\x07")
    result = plan([desired(spec())], observed(hostile, failing), options())
    text = render_text(result, color=False)
    assert "\x1b" not in text and "\x07" not in text
    assert "boom\\x1b]0;title\\x07" in text


def test_a_large_plan_s_text_shows_its_changes_and_counts_the_unchanged_jobs() -> None:
    specs = [desired(spec(f"job-{i:04d}")) for i in range(2_000)]
    jobs = [job(f"job-{i:04d}") for i in range(1, 2_000)]  # job-0000 is new
    jobs[41] = job("job-0042", status="FAILED")
    large = plan(specs, observed(*jobs), options())
    assert len(large.changes) == 2_000

    text = render_text(large, color=False)
    lines = text.splitlines()
    assert len(lines) <= 12, text
    assert any(line.startswith("  + job-0000") for line in lines)
    assert any("job-0042" in line and "Degraded" in line for line in lines)  # a failed job stays
    assert "1,998 jobs unchanged (not listed; --show-unchanged lists them)" in lines
    assert lines[-1] == summary_line(large.summary)

    every = render_text(large, color=False, show_unchanged=True).splitlines()
    assert len(every) > 2_000
    assert not any("unchanged (not listed" in line for line in every)
