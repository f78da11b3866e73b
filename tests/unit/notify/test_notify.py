"""Notifications posted over real HTTP to a capture server the test starts: the Slack and JSON
payloads of a job that finished or failed and of a failed apply, nothing sent for a job seen
for the first time or seen again (in the same process or after a restart), no secret in any
payload, a failing webhook retried a few times and reported without its secret path, and the
``notify:`` block of ``reconciler.yaml``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.config import NotifySettings, load_settings, read_settings
from reconciler.core.diagnostics import InvalidInputError
from reconciler.core.observed import Health, JobOutputs
from reconciler.notify import FailedWrite, Notifier, RunInfo
from reconciler.notify.events import ApplyFailedEvent
from reconciler.redact import register_secret
from reconciler.status import JobStatus, Sync
from tests.support.capture import CaptureServer, capture_server
from tests.support.repos import mark_repository

# A Slack incoming webhook's credential is its path.
SECRET_PATH = "/services/T0001/B0002/webhook-secret-path-x9"
API_KEY = "sk-notify-test-key-0123456789abcdef"
SIGNED = "https://b.s3.amazonaws.com/w/fox.safetensors?X-Amz-Signature=deadbeefcafe1234"
RUN = RunInfo("status --wait", sandbox=True)


@pytest.fixture
def receiver() -> Iterator[CaptureServer]:
    with capture_server(SECRET_PATH) as capture:
        yield capture


def notifier(folder: Path, url: str, format: str = "json", **kw: object) -> Notifier:
    warnings: list[str] = []
    made = Notifier(
        NotifySettings("RECONCILE_NOTIFY_URL", "json" if format == "json" else "slack"),
        url,
        folder,
        sandbox=False,
        warn=warnings.append,
        retry_wait=0.0,
    )
    made.warnings = warnings  # type: ignore[attr-defined]
    return made


def status(
    health: Health, *, name: str = "fox-v1", remote_id: str = "job-1", detail: str = "in sync"
) -> JobStatus:
    outputs = None
    if health is Health.HEALTHY:
        outputs = JobOutputs(weights_url=SIGNED, slug="fox-v1-job1")
    raw = {Health.HEALTHY: "AVAILABLE", Health.DEGRADED: "FAILED"}.get(health, "TRAINING")
    return JobStatus("segmind", name, Sync.SYNCED, health, remote_id, raw, detail, outputs)


def test_a_job_that_finishes_is_announced_once_in_json(
    tmp_path: Path, receiver: CaptureServer
) -> None:
    sender = notifier(tmp_path, receiver.url)

    assert sender.jobs([status(Health.PROGRESSING)], RUN) == []  # the baseline
    assert len(sender.jobs([status(Health.HEALTHY)], RUN)) == 1
    assert sender.jobs([status(Health.HEALTHY)], RUN) == []  # the next poll: nothing new
    restarted = notifier(tmp_path, receiver.url)
    assert restarted.jobs([status(Health.HEALTHY)], RUN) == []  # nor after a restart

    (request,) = receiver.wait_for_requests(1)
    assert request.path == SECRET_PATH and request.headers["content-type"] == "application/json"
    assert request.json() == {
        "format_version": 1,
        "event": "job.finished",
        "name": "fox-v1",
        "provider": "segmind",
        "remote_id": "job-1",
        "remote_status": "AVAILABLE",
        "from": "Progressing",
        "to": "Healthy",
        "outputs": {
            "model_id": None,
            "weights_url": "https://b.s3.amazonaws.com/w/fox.safetensors",
            "slug": "fox-v1-job1",
        },
        "detail": "in sync",
        "run": {"source": "status --wait", "commit": None, "sandbox": True},
    }
    assert len(receiver.requests) == 1


def test_a_round_with_nothing_new_leaves_the_ledger_file_unwritten(
    tmp_path: Path, receiver: CaptureServer
) -> None:
    # A quiet daemon opens the ledger twice a round (jobs, then apply): no sealed write each time.
    sender = notifier(tmp_path, receiver.url)
    sender.jobs([status(Health.PROGRESSING)], RUN)
    ledger = tmp_path / "notify.json"
    before = ledger.stat()

    assert sender.jobs([status(Health.PROGRESSING)], RUN) == []
    assert sender.apply([], RUN) is None

    after = ledger.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_failed_job_is_announced_in_slack_format(tmp_path: Path, receiver: CaptureServer) -> None:
    sender = notifier(tmp_path, receiver.url, "slack")
    sender.jobs([status(Health.PENDING)], RUN)
    failed = status(Health.DEGRADED, detail="failed: GPU overloaded <!channel> & <https://x|y>")

    sender.jobs([failed], RunInfo("daemon", commit="0123456789abcdef0123"))

    (request,) = receiver.wait_for_requests(1)
    body = request.json()
    assert set(body) == {"text"}
    lines = body["text"].splitlines()
    assert lines[0] == (
        ":x: segmind/`fox-v1` failed: Pending → Degraded (remote job `job-1`, FAILED)"
        " (daemon, commit `0123456789ab`)"
    )
    # Provider text cannot mention a channel or make a link in Slack.
    assert lines[1] == "• failed: GPU overloaded &lt;!channel&gt; &amp; &lt;https://x|y&gt;"


def test_a_finished_job_in_slack_shows_its_outputs(tmp_path: Path, receiver: CaptureServer) -> None:
    sender = notifier(tmp_path, receiver.url, "slack")
    sender.jobs([status(Health.PROGRESSING)], RUN)
    sender.jobs([status(Health.HEALTHY)], RUN)

    text = receiver.wait_for_requests(1)[0].json()["text"]
    assert text.splitlines() == [
        ":white_check_mark: segmind/`fox-v1` finished training: Progressing → Healthy"
        " (remote job `job-1`, AVAILABLE) (status --wait, sandbox)",
        "• weights: `https://b.s3.amazonaws.com/w/fox.safetensors`",
        "• slug: `fox-v1-job1`",
    ]


def test_a_job_seen_first_when_already_done_is_not_announced(
    tmp_path: Path, receiver: CaptureServer
) -> None:
    sender = notifier(tmp_path, receiver.url)
    first = [status(Health.HEALTHY), status(Health.DEGRADED, name="owl-v1", remote_id="j2")]
    assert sender.jobs(first, RUN) == []
    # A replace's new job: a baseline of its own, announced when it finishes.
    assert sender.jobs([status(Health.PENDING, remote_id="job-2")], RUN) == []
    assert len(sender.jobs([status(Health.HEALTHY, remote_id="job-2")], RUN)) == 1
    assert len(receiver.wait_for_requests(1)) == 1


def test_a_round_of_some_jobs_leaves_the_others_records_alone(
    tmp_path: Path, receiver: CaptureServer
) -> None:
    sender = notifier(tmp_path, receiver.url)
    sender.jobs([status(Health.PROGRESSING), status(Health.PROGRESSING, name="owl-v1")], RUN)
    sender.jobs([status(Health.PROGRESSING)], RUN)  # a status --wait of fox's spec only
    events = sender.jobs([status(Health.HEALTHY, name="owl-v1")], RUN)
    assert [e.name for e in events] == ["owl-v1"]


def test_a_provider_not_read_keeps_its_jobs_for_a_later_round(
    tmp_path: Path, receiver: CaptureServer
) -> None:
    sender = notifier(tmp_path, receiver.url)
    sender.jobs([status(Health.PROGRESSING)], RUN)
    # Its outputs could not be read: not announced without them, and not forgotten.
    assert sender.jobs([status(Health.HEALTHY)], RUN, unread={"segmind"}) == []
    assert len(sender.jobs([status(Health.HEALTHY)], RUN)) == 1


@pytest.mark.parametrize("format", ["json", "slack"])
def test_no_secret_reaches_a_payload(tmp_path: Path, receiver: CaptureServer, format: str) -> None:
    register_secret(API_KEY)
    sender = notifier(tmp_path, receiver.url, format)
    owl = {"name": "owl-v1", "remote_id": "j2"}
    sender.jobs([status(Health.PENDING), status(Health.PROGRESSING, **owl)], RUN)
    leaky = status(Health.DEGRADED, detail=f"rejected key {API_KEY} posting to {receiver.url}")
    sender.jobs([leaky, status(Health.HEALTHY, **owl)], RUN)
    sender.apply([FailedWrite("segmind", "fox-v2", "create", f"{API_KEY} at {SIGNED}")], RUN)

    bodies = [r.body.decode() for r in receiver.wait_for_requests(3)]
    assert len(bodies) == 3
    for body in bodies:
        for secret in (API_KEY, SECRET_PATH, "webhook-secret-path", "deadbeefcafe1234"):
            assert secret not in body


def test_a_failed_apply_is_announced_once_until_an_apply_succeeds(
    tmp_path: Path, receiver: CaptureServer
) -> None:
    sender = notifier(tmp_path, receiver.url)
    failure = [FailedWrite("qubrid", "qa-v1", "create", "HTTP 402: no credits")]

    assert sender.apply(failure, RUN) is not None
    again = [FailedWrite("qubrid", "qa-v1", "create", "HTTP 402: no credits (request 2)")]
    assert sender.apply(again, RUN) is None  # the same change failing again
    assert sender.apply([], RUN) is None
    assert sender.apply(failure, RUN) is not None

    requests = receiver.wait_for_requests(2)
    assert len(requests) == 2
    assert requests[0].json()["event"] == "apply.failed"
    assert requests[0].json()["failures"] == [
        {
            "name": "qa-v1",
            "provider": "qubrid",
            "action": "create",
            "message": "HTTP 402: no credits",
        }
    ]


def test_a_failing_webhook_is_tried_three_times_and_reported_without_its_path(
    tmp_path: Path, receiver: CaptureServer
) -> None:
    receiver.statuses = [503, 502, 500]
    sender = notifier(tmp_path, receiver.url)
    sender.jobs([status(Health.PROGRESSING)], RUN)

    assert len(sender.jobs([status(Health.HEALTHY)], RUN)) == 1  # did not raise

    assert len(receiver.wait_for_requests(3)) == 3
    (warning,) = sender.warnings  # type: ignore[attr-defined]
    host = receiver.url.split(SECRET_PATH)[0]
    assert f"not delivered to {host} (HTTP 500)" in warning
    assert "webhook-secret-path" not in warning and "services" not in warning


def test_a_webhook_refusing_the_request_is_not_tried_again(
    tmp_path: Path, receiver: CaptureServer
) -> None:
    receiver.statuses = [404]
    sender = notifier(tmp_path, receiver.url)
    sender.jobs([status(Health.PROGRESSING)], RUN)
    sender.jobs([status(Health.HEALTHY)], RUN)
    sender.close()

    assert len(receiver.requests) == 1
    assert "HTTP 404" in sender.warnings[0]  # type: ignore[attr-defined]


def test_an_unreachable_webhook_never_fails_the_round(tmp_path: Path) -> None:
    sender = notifier(tmp_path, "http://127.0.0.1:9/hook")  # discard port: refused
    sender.jobs([status(Health.PROGRESSING)], RUN)
    assert len(sender.jobs([status(Health.HEALTHY)], RUN)) == 1
    assert "ConnectError" in sender.warnings[0]  # type: ignore[attr-defined]


# --- reconciler.yaml ---------------------------------------------------------------------


def test_the_notify_block_names_the_variable_and_the_format(tmp_path: Path) -> None:
    mark_repository(tmp_path, config="notify:\n  webhook_url_env: TEAM_HOOK\n  format: json\n")
    assert load_settings(tmp_path, environ={}).notify == NotifySettings("TEAM_HOOK", "json")
    mark_repository(tmp_path, config="notify: {webhook_url_env: TEAM_HOOK}\n")
    assert load_settings(tmp_path, environ={}).notify == NotifySettings("TEAM_HOOK", "slack")
    mark_repository(tmp_path)
    assert load_settings(tmp_path, environ={}).notify is None


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("notify:\n  webhook_url_env: SEGMIND_API_KEY\n", "holds an API key, not a webhook URL"),
        ("notify:\n  webhook_url: https://hooks.slack.com/services/x\n", "webhook_url"),
        ("notify:\n  webhook_url_env: TEAM_HOOK\n  format: teams\n", "format"),
        ("notify:\n  webhook_url_env: team-hook\n", "webhook_url_env"),
    ],
)
def test_a_bad_notify_block_names_its_line(tmp_path: Path, block: str, message: str) -> None:
    mark_repository(tmp_path, config=block)
    with pytest.raises(InvalidInputError) as raised:
        load_settings(tmp_path, environ={})
    problems = raised.value.diagnostics
    assert all(p.file.endswith("reconciler.yaml") and p.line >= 2 for p in problems)
    assert any(message in str(p) for p in problems)


def test_a_notifier_needs_its_variable_set_to_a_url(tmp_path: Path) -> None:
    mark_repository(tmp_path, config="notify:\n  webhook_url_env: TEAM_HOOK\n")
    settings, _ = read_settings(tmp_path, environ={})
    said: list[str] = []

    def made(environ: dict[str, str]) -> Notifier | None:
        return Notifier.for_settings(
            settings, tmp_path, sandbox=False, warn=said.append, environ=environ
        )

    assert made({}) is None
    assert made({"TEAM_HOOK": "hooks.slack.com/services/x"}) is None
    assert said == [
        "notify: TEAM_HOOK is not set, so no notification is sent; set it to the webhook's URL",
        "notify: TEAM_HOOK is no webhook URL (it is not an http(s) URL); nothing is sent",
    ]
    found = made({"TEAM_HOOK": "https://hooks.slack.com/services/x"})
    assert found is not None and found.format == "slack"
    found.close()


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com:abc/services/T0/B0/secret-path-1",
        "https://hooks.slack.com:99999/services/T0/B0/secret-path-1",
        "https://[::1/services/T0/B0/secret-path-1",
    ],
    ids=["port-not-a-number", "port-out-of-range", "broken-ipv6-host"],
)
def test_a_malformed_webhook_url_is_said_once_without_its_secret(tmp_path: Path, url: str) -> None:
    # Not an error out of a round (a traceback, a daemon stopped): said, and nothing sent.
    mark_repository(tmp_path, config="notify:\n  webhook_url_env: TEAM_HOOK\n")
    settings, _ = read_settings(tmp_path, environ={})
    said: list[str] = []

    found = Notifier.for_settings(
        settings, tmp_path, sandbox=False, warn=said.append, environ={"TEAM_HOOK": url}
    )

    assert found is None
    assert said == ["notify: TEAM_HOOK is no webhook URL (it is not a valid URL); nothing is sent"]


def test_the_ledger_holds_no_secret(tmp_path: Path, receiver: CaptureServer) -> None:
    sender = notifier(tmp_path, receiver.url)
    sender.jobs([status(Health.PROGRESSING)], RUN)
    sender.jobs([status(Health.HEALTHY)], RUN)
    # Sealed: the first line is its seal (reconciler.datasets.stat_cache), then the document.
    ledger = json.loads((tmp_path / "notify.json").read_text().partition("\n")[2])
    assert ledger == {
        "version": 1,
        "jobs": {"segmind/fox-v1": {"remote_id": "job-1", "health": "Healthy"}},
        "apply_failure": None,
    }


def test_a_ledger_committed_to_the_checkout_is_not_believed(
    tmp_path: Path, receiver: CaptureServer
) -> None:
    # A pull request may commit .reconcile/notify.json: a job recorded as still training
    # would be announced as just finished (a webhook that deploys on it deploys), and a
    # failure recorded as announced would be kept quiet.
    failure = [FailedWrite("qubrid", "qa-v1", "create", "HTTP 402: no credits")]
    planted = {
        "version": 1,
        "jobs": {"segmind/fox-v1": {"remote_id": "job-1", "health": "Progressing"}},
        "apply_failure": ApplyFailedEvent(tuple(failure)).fingerprint,
    }
    (tmp_path / "notify.json").write_text(json.dumps(planted), encoding="utf-8")
    sender = notifier(tmp_path, receiver.url)

    assert sender.jobs([status(Health.HEALTHY)], RUN) == []  # a baseline, nothing announced
    assert sender.apply(failure, RUN) is not None  # announced: nothing was before
    (request,) = receiver.wait_for_requests(1)
    assert request.json()["event"] == "apply.failed"


def test_a_lock_file_linked_out_of_the_checkout_is_not_followed(
    tmp_path: Path, receiver: CaptureServer
) -> None:
    outside = tmp_path / "outside" / "made-by-reconcile"
    outside.parent.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    (state / "notify.lock").symlink_to(outside)
    sender = notifier(state, receiver.url)

    assert sender.jobs([status(Health.PROGRESSING)], RUN) == []
    assert not outside.exists()
    assert any("notify.lock" in warning for warning in sender.warnings)  # type: ignore[attr-defined]
