"""Rendering an apply's outcomes: every failure named with provider, job and message, and no
secret even when a message carries one."""

from __future__ import annotations

import json

from reconciler.core.action import Action
from reconciler.core.outcome import ApplyResult, Outcome, OutcomeKind, ProviderRefusal
from reconciler.core.plan import Change, Plan, PlanOptions
from reconciler.redact import register_secret
from reconciler.views.apply_report import (
    render_apply_json,
    render_result_markdown,
    render_result_text,
)
from reconciler.views.markdown import CELL_LIMIT

KEY = "sk-REPORT-test-key-0001"
SIGNED = "https://objects.invalid/b/k.zip?X-Amz-Signature=abcdef0123&X-Amz-Expires=60"


def outcome(name: str, kind: OutcomeKind, message: str) -> Outcome:
    change = Change(action=Action.CREATE, provider="qubrid", name=name, reason="r")
    return Outcome(change, kind, message)


RESULT = ApplyResult(
    (
        outcome("ok-job", OutcomeKind.DONE, "submitted as ftjob-1"),
        outcome("bad-job", OutcomeKind.FAILED, f"refused: {SIGNED} with key {KEY} (HTTP 400)"),
        outcome("big-job", OutcomeKind.BLOCKED, "dataset cannot change; rename the spec"),
    )
)


def test_text_names_every_failure_and_counts_everything() -> None:
    register_secret(KEY)
    text = render_result_text(RESULT)
    assert "  ok      create  qubrid/ok-job: submitted as ftjob-1" in text
    assert "1 failed:\n  qubrid/bad-job: refused: https://objects.invalid/b/k.zip?****" in text
    assert text.endswith("Apply: 1 done, 1 failed, 1 blocked\n")
    assert KEY not in text and "abcdef0123" not in text


def test_markdown_and_json_carry_no_secret_either() -> None:
    register_secret(KEY)
    markdown = render_result_markdown(RESULT)
    assert "| failed | create | qubrid/`bad-job` |" in markdown
    plan = Plan(changes=(), unmanaged=(), options=PlanOptions(), snapshot="0" * 64)
    document = render_apply_json(plan, RESULT)
    assert json.loads(document)["apply"]["failed"] == 1
    for text in (markdown, document):
        assert KEY not in text and "abcdef0123" not in text


def test_nothing_to_apply_says_so() -> None:
    assert render_result_text(ApplyResult(())) == "Nothing to apply: every job matches its spec.\n"


def test_a_huge_message_is_cut_in_markdown_and_kept_whole_in_json() -> None:
    # The apply report is posted as a pull-request comment too: a cell is bounded there as in
    # the plan's, while JSON keeps the exact message.
    huge = ApplyResult((outcome("bad-job", OutcomeKind.FAILED, "x" * 10_000),))
    (row,) = [line for line in render_result_markdown(huge).splitlines() if "bad-job" in line]
    assert f"| {'x' * (CELL_LIMIT - 1)}… |" in row
    plan = Plan(changes=(), unmanaged=(), options=PlanOptions(), snapshot="0" * 64)
    document = json.loads(render_apply_json(plan, huge))
    assert document["apply"]["outcomes"][0]["message"] == "x" * 10_000


def test_a_provider_refusing_the_service_is_said_once_above_its_blocked_changes() -> None:
    register_secret(KEY)
    message = f"the service is switched off (key {KEY}); move these specs"
    short = "qubrid refuses fine-tuning: see above; move these specs to another provider"
    result = ApplyResult(
        (
            outcome("a", OutcomeKind.BLOCKED, short),
            outcome("b", OutcomeKind.BLOCKED, short),
        ),
        (ProviderRefusal("qubrid", message),),
    )
    plan = Plan(changes=(), unmanaged=(), options=PlanOptions(), snapshot="0" * 64)
    text = render_result_text(result)
    markdown = render_result_markdown(result)
    document = render_apply_json(plan, result)

    assert text.startswith("! qubrid: the service is switched off")
    assert "> **qubrid**: the service is switched off" in markdown
    assert json.loads(document)["apply"]["refused"]["qubrid"].startswith("the service is")
    for rendered in (text, markdown, document):
        assert rendered.count("the service is switched off") == 1, rendered
        assert KEY not in rendered
