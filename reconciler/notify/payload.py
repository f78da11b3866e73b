"""The body of a notification, in the configured format. Pure.

- ``json``: one plain JSON document per event: ``event`` (``job.finished``, ``job.failed``,
  ``apply.failed``), the job's ``name`` and ``provider``, ``from`` and ``to`` health, the
  remote job's id and status, its ``outputs`` (model id, weights URL, slug), ``detail``, the
  apply's ``failures`` and ``run`` (where it comes from), ``format_version``.
- ``slack``: a Slack incoming-webhook message, ``{"text": ...}`` in Slack's mrkdwn.

Everything in a payload is provider or repository text bound for another service: each string
goes through ``redact`` (a key or a pre-signed query quoted in a provider's message never
leaves), and for Slack it is made one line (``one_line``) and inert: ``&``, ``<`` and ``>``
escaped as Slack asks, so no ``<!channel>`` mention or ``<url|link>`` is read, and values shown
in code spans with their backticks replaced. A weights URL carries no query (``JobOutputs``).
"""

from __future__ import annotations

from typing import Any, Literal

from reconciler.notify.events import ApplyFailedEvent, Event, HealthEvent, RunInfo
from reconciler.redact import redact
from reconciler.sanitize import json_dumps, one_line

PAYLOAD_FORMAT_VERSION = 1
# A Slack message's text is cut (with a note) beyond this many characters; Slack's limit is
# 40,000, and an apply that failed everywhere must still be one readable message.
SLACK_TEXT_LIMIT = 3_000


def payload(event: Event, run: RunInfo, format: Literal["slack", "json"]) -> bytes:
    """The request body announcing ``event``."""
    document = slack_message(event, run) if format == "slack" else json_document(event, run)
    return json_dumps(document).encode()


def json_document(event: Event, run: RunInfo) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format_version": PAYLOAD_FORMAT_VERSION,
        "event": event.kind,
        "run": run.to_dict(),
    }
    if isinstance(event, HealthEvent):
        document.update(
            name=redact(event.name),
            provider=event.provider,
            remote_id=redact(event.remote_id),
            remote_status=None if event.remote_status is None else redact(event.remote_status),
            **{"from": event.before.value, "to": event.after.value},
            outputs={
                key: None if value is None else redact(value)
                for key, value in (event.outputs.to_dict() if event.outputs else {}).items()
            },
            detail=redact(event.detail),
        )
    else:
        document["failures"] = [
            {
                "name": redact(f.name),
                "provider": f.provider,
                "action": f.action,
                "message": redact(f.message),
            }
            for f in event.failures
        ]
    return document


def _slack(text: str) -> str:
    """Provider text made inert in Slack mrkdwn: one line, ``&<>`` escaped."""
    flat = one_line(redact(text))
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    return "`" + _slack(text).replace("`", "'") + "`"


def slack_message(event: Event, run: RunInfo) -> dict[str, Any]:
    where = f" ({run.source}{', sandbox' if run.sandbox else ''}"
    where += f", commit {_code(run.commit[:12])})" if run.commit else ")"
    if isinstance(event, HealthEvent):
        job = f"{event.provider}/{_code(event.name)}"
        if event.after.value == "Healthy":
            head = f":white_check_mark: {job} finished training"
        else:
            head = f":x: {job} failed"
        lines = [
            f"{head}: {event.before.value} → {event.after.value}"
            f" (remote job {_code(event.remote_id)}, {_slack(event.remote_status or '-')}){where}"
        ]
        if event.outputs is not None:
            outputs = event.outputs.to_dict()
            labels = (("model_id", "model id"), ("weights_url", "weights"), ("slug", "slug"))
            lines += [f"• {label}: {_code(v)}" for key, label in labels if (v := outputs[key])]
        if event.after.value != "Healthy":
            lines.append(f"• {_slack(event.detail)}")
    else:
        assert isinstance(event, ApplyFailedEvent)
        count = len(event.failures)
        lines = [f":warning: apply failed: {count} change{'s' if count != 1 else ''}{where}"]
        lines += [
            f"• {f.action} {f.provider}/{_code(f.name)}: {_slack(f.message)}"
            for f in event.failures
        ]
    text = "\n".join(lines)
    if len(text) > SLACK_TEXT_LIMIT:
        text = text[:SLACK_TEXT_LIMIT] + "\n… (cut; the daemon's log has the rest)"
    return {"text": text}
