"""A finished job's outputs in ``reconcile status``'s views: provider text (a slug, a model id,
a weights URL) made safe for a terminal and for markdown, and a pre-signed weights URL shown
without its signature, from the adapter's parsing to every format; and the exit code's rule."""

from __future__ import annotations

import json

import pytest

from reconciler.core.observed import Health, JobOutputs
from reconciler.core.plan import IncompleteProvider
from reconciler.providers.segmind.adapter import job_outputs
from reconciler.status import JobStatus, Sync, status_exit_code
from reconciler.views.status import (
    render_status_json,
    render_status_markdown,
    render_status_text,
)

SIGNATURE = "c2lnbmF0dXJlLXRoYXQtaXMtYS1jcmVkZW50aWFs"
SIGNED = (
    "https://segmind-sd-models.s3.amazonaws.com/finetune/finetuned_models/j1/fox.safetensors"
    f"?AWSAccessKeyId=AKIAEXAMPLE&Signature={SIGNATURE}&Expires=1700000000"
)
HOSTILE_SLUG = "fox\x1b]0;owned\x07\x1b[2J\r\nok  forged line"
HOSTILE_MODEL = "m|1 <img src=x> @everyone [x](https://evil.example) `tick`"


def finished(outputs: JobOutputs | None, health: Health = Health.HEALTHY) -> JobStatus:
    return JobStatus("segmind", "fox", Sync.SYNCED, health, "j1", "AVAILABLE", "in sync", outputs)


def test_a_signed_weights_url_loses_its_query_where_it_is_parsed() -> None:
    outputs = job_outputs({"cloud_storage_url": SIGNED, "slug": "fox-j1"})

    assert outputs == JobOutputs(weights_url=SIGNED.split("?", 1)[0], slug="fox-j1")
    assert job_outputs({"cloud_storage_url": None}) is None


def test_no_view_shows_a_signature_or_a_password() -> None:
    outputs = JobOutputs(weights_url=SIGNED.replace("https://", "https://user:pw@"))
    for render in (render_status_text, render_status_markdown, render_status_json):
        shown = render([finished(outputs)])
        assert SIGNATURE not in shown and "AKIAEXAMPLE" not in shown and "pw@" not in shown
        assert "fox.safetensors" in shown


def test_provider_text_in_outputs_cannot_drive_the_terminal_or_forge_a_line() -> None:
    text = render_status_text([finished(JobOutputs(model_id=HOSTILE_MODEL, slug=HOSTILE_SLUG))])

    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "    slug: fox\\x1b]0;owned\\x07\\x1b[2J\\r\\nok  forged line" in text.splitlines()
    assert not any(line.startswith("ok") for line in text.splitlines())


def test_provider_text_in_outputs_is_inert_markdown() -> None:
    markdown = render_status_markdown(
        [finished(JobOutputs(model_id=HOSTILE_MODEL, slug=HOSTILE_SLUG))]
    )
    row = next(line for line in markdown.splitlines() if line.startswith("| segmind"))

    assert "\x1b" not in markdown and "\n" not in row
    # The table keeps its columns: every | inside the values is escaped.
    assert row.replace("\\|", "").count("|") == 8
    # Each value is one code span (HTML, mentions and links inert in it), longer fences
    # around a value that holds a backtick; line breaks folded.
    assert (
        "| model id `` m\\|1 <img src=x> @everyone [x](https://evil.example) `tick` ``"
        "<br>slug `fox\\x1b]0;owned\\x07\\x1b[2J ok forged line` |"
    ) in row


def test_json_keeps_the_exact_text_escaped_for_any_terminal() -> None:
    document = render_status_json([finished(JobOutputs(slug=HOSTILE_SLUG))])

    assert "\x1b" not in document
    assert json.loads(document)["jobs"][0]["outputs"]["slug"] == HOSTILE_SLUG


@pytest.mark.parametrize(
    ("healths", "unread", "code"),
    [
        ((Health.HEALTHY, Health.PROGRESSING, Health.PENDING, Health.MISSING), False, 0),
        ((Health.HEALTHY, Health.DEGRADED), False, 1),
        ((Health.HEALTHY, Health.UNKNOWN), False, 1),
        ((Health.HEALTHY,), True, 1),
        ((), False, 0),
    ],
)
def test_the_exit_code_rule(healths: tuple[Health, ...], unread: bool, code: int) -> None:
    statuses = [finished(None, health) for health in healths]
    problems = [IncompleteProvider("qubrid", "HTTP 503")] if unread else []
    assert status_exit_code(statuses, problems) == code
