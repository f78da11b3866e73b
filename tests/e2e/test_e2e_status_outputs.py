"""``reconcile status`` end to end against the sandbox (issue 14): each finished job's outputs
(Segmind's weights URL and slug, Qubrid's and Cohere's model ids) in every format, the exit
codes (0 while jobs train, 1 on a failed job or an unread provider), ``--wait`` (done, failed
at once, timed out naming the jobs) and only the options that act for status. Time moves by
the sandbox's clock (frozen, then advanced), never by sleeping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconcile_sandbox.testing import RunningSandbox
from reconciler.notify.ledger import open_ledger
from tests.e2e.e2e_support import Cli, example_spec_names
from tests.support.capture import capture_server
from tests.support.repos import mark_repository

EXAMPLES = example_spec_names()
# Longer than any example job takes to train and deploy (Segmind's: a quarter of an hour).
TRAINED = 6 * 3600.0


def converged(reconcile: Cli, running: RunningSandbox) -> None:
    """The example specs applied, then the sandbox's clock frozen."""
    result = reconcile()
    assert result.exit_code == 0, result.output
    running.control.set_speed(0)


def trained(reconcile: Cli, running: RunningSandbox) -> None:
    """The example specs applied, and every job finished training since."""
    converged(reconcile, running)
    running.control.advance_clock(TRAINED)


def status_json(reconcile: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = reconcile("status", "-o", "json", *args)
    return result.exit_code, json.loads(result.stdout)


def jobs_by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in document["jobs"]}


def test_a_finished_job_shows_what_the_next_step_needs_in_every_format(
    reconcile: Cli, running: RunningSandbox
) -> None:
    trained(reconcile, running)

    code, document = status_json(reconcile)

    assert code == 0
    jobs = jobs_by_name(document)
    assert len(jobs) == len(EXAMPLES)
    for provider, name in EXAMPLES:
        job = jobs[name]
        assert job["health"] == "Healthy", job
        outputs = job["outputs"]
        if provider == "segmind":
            stored = running.control.get("segmind", "jobs", job["remote_id"])["row"]
            assert outputs["slug"] == stored["slug"]
            weights = outputs["weights_url"]
            assert weights.startswith(running.url) and weights.endswith(".safetensors")
            assert job["remote_id"] in weights and "?" not in weights
            assert outputs["model_id"] is None
        elif provider == "qubrid":
            stored = running.control.get("qubrid", "jobs", job["remote_id"])["row"]
            assert outputs == {
                "model_id": stored["fine_tuned_model"],
                "weights_url": None,
                "slug": None,
            }
        else:
            assert outputs == {
                "model_id": f"{job['remote_id']}-ft",
                "weights_url": None,
                "slug": None,
            }

    text = reconcile("status").stdout
    segmind = next(name for provider, name in EXAMPLES if provider == "segmind")
    row = text.splitlines().index(
        next(line for line in text.splitlines() if line.startswith(f"segmind   {segmind} "))
    )
    following = text.splitlines()[row + 1 : row + 3]
    assert following == [
        f"    weights: {jobs[segmind]['outputs']['weights_url']}",
        f"    slug: {jobs[segmind]['outputs']['slug']}",
    ]
    markdown = reconcile("status", "-o", "markdown").stdout
    assert f"slug `{jobs[segmind]['outputs']['slug']}`" in markdown


def test_a_job_still_training_has_no_outputs_and_exits_0(
    reconcile: Cli, running: RunningSandbox
) -> None:
    converged(reconcile, running)

    code, document = status_json(reconcile)

    assert code == 0
    assert {job["health"] for job in document["jobs"]} <= {"Pending", "Progressing"}
    assert all(
        job["outputs"] == dict.fromkeys(("model_id", "weights_url", "slug"))
        for job in document["jobs"]
    )


def test_a_failed_job_exits_1(reconcile: Cli, running: RunningSandbox) -> None:
    converged(reconcile, running)
    _, document = status_json(reconcile)
    segmind = next(j for j in document["jobs"] if j["provider"] == "segmind")
    running.control.fail("segmind", "jobs", segmind["remote_id"], "GPU overloaded")

    result = reconcile("status")

    assert result.exit_code == 1
    assert any(
        line.startswith(f"segmind   {segmind['name']} ") and "Degraded" in line
        for line in result.stdout.splitlines()
    )


def test_outputs_that_cannot_be_read_exit_1_naming_the_job(
    reconcile: Cli, running: RunningSandbox
) -> None:
    trained(reconcile, running)
    running.control.add_fault(
        kind="error", method="GET", path="/segmind/finetune/request/details", status=404
    )

    code, document = status_json(reconcile)

    assert code == 1
    unread = [entry["error"] for entry in document["incomplete"]]
    segmind = sorted(name for provider, name in EXAMPLES if provider == "segmind")
    assert (
        sorted(error.split("the outputs of ", 1)[1].split(" could not", 1)[0] for error in unread)
        == segmind
    )


def test_status_offers_only_the_options_that_act_for_it(reconcile: Cli) -> None:
    for option in (
        "--prune",
        "--allow-replace",
        "--retry-failed",
        "--parallelism=2",
        "--max-creates=1",
    ):
        result = reconcile("status", option)
        assert result.exit_code == 2, (option, result.output)
        assert "No such option" in result.output
    help_text = reconcile("status", "--help").output
    assert "--wait" in help_text and "--prune" not in help_text
    alone = reconcile("status", "--timeout", "5")
    assert alone.exit_code == 1
    assert "--timeout and --interval only act with --wait" in alone.output


def test_wait_ends_at_once_when_every_job_is_healthy(
    reconcile: Cli, running: RunningSandbox
) -> None:
    trained(reconcile, running)

    result = reconcile("status", "--wait", "--timeout", "60", "-o", "json")

    assert result.exit_code == 0, result.output
    assert {job["health"] for job in json.loads(result.stdout)["jobs"]} == {"Healthy"}
    assert "done: every job is healthy" in result.stderr


def test_wait_fails_at_once_when_a_job_fails(reconcile: Cli, running: RunningSandbox) -> None:
    converged(reconcile, running)
    _, document = status_json(reconcile)
    qubrid = next(j for j in document["jobs"] if j["provider"] == "qubrid")
    running.control.fail("qubrid", "jobs", qubrid["remote_id"], "out of memory")

    # Frozen clock: the other jobs never finish, so only the failure can end the wait.
    result = reconcile("status", "--wait", "--timeout", "600", "--interval", "0.05")

    assert result.exit_code == 1
    assert f"failed: qubrid/{qubrid['name']}" in result.stderr


def test_wait_times_out_naming_the_jobs_not_done(reconcile: Cli, running: RunningSandbox) -> None:
    converged(reconcile, running)

    result = reconcile("status", "--wait", "--timeout", "0")

    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("reconcile: timed out after 0 s; not done: ")
    for provider, name in EXAMPLES:
        assert f"{provider}/{name} (" in last


def test_wait_announces_each_job_that_finished_since_it_was_last_seen_once(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    mark_repository(repo, config="notify:\n  webhook_url_env: TEAM_HOOK\n")  # Slack format
    converged(reconcile, running)
    _, document = status_json(reconcile)
    # What an earlier round (a daemon, or a wait cut short) saw: every job still training.
    ledger = {
        f"{j['provider']}/{j['name']}": {"remote_id": j["remote_id"], "health": "Progressing"}
        for j in document["jobs"]
    }
    # Written as this machine writes it (sealed): a ledger from a commit is not believed.
    with open_ledger(repo / ".reconcile") as written:
        written.jobs = ledger
    running.control.advance_clock(TRAINED)

    with capture_server("/services/T1/B1/cli-hook-secret") as receiver:
        reconcile.env["TEAM_HOOK"] = receiver.url
        assert reconcile("status").exit_code == 0  # plain status announces nothing
        assert receiver.requests == []
        first = reconcile("status", "--wait", "--timeout", "60")
        second = reconcile("status", "--wait", "--timeout", "60")

    assert first.exit_code == 0 and second.exit_code == 0, first.output
    assert len(receiver.requests) == len(EXAMPLES)
    texts = sorted(request.json()["text"] for request in receiver.requests)
    for (provider, name), text in zip(sorted(EXAMPLES), texts, strict=True):
        assert text.startswith(
            f":white_check_mark: {provider}/`{name}` finished training: Progressing → Healthy"
        )
        assert text.splitlines()[0].endswith("(status --wait)")
    slugs = [
        j["outputs"]["slug"] for j in json.loads(reconcile("status", "-o", "json").stdout)["jobs"]
    ]
    for slug in filter(None, slugs):
        assert any(f"• slug: `{slug}`" in text for text in texts)


def details_reads(running: RunningSandbox) -> int:
    return running.control.request_counts().get("GET /segmind/finetune/request/details", 0)


def test_a_finished_job_s_details_are_read_once_per_machine_not_on_every_status(
    reconcile: Cli, running: RunningSandbox
) -> None:
    trained(reconcile, running)
    finished_segmind = sum(1 for provider, _ in EXAMPLES if provider == "segmind")
    before = details_reads(running)

    _, first = status_json(reconcile)
    assert details_reads(running) - before == finished_segmind
    _, second = status_json(reconcile)
    reconcile("status")

    # The second and third runs read nothing beyond the lists, and show the same outputs.
    assert details_reads(running) - before == finished_segmind
    assert second["jobs"] == first["jobs"]


def test_outputs_remembered_in_a_file_this_machine_did_not_seal_are_read_again(
    reconcile: Cli, running: RunningSandbox
) -> None:
    # The checkout is untrusted: a committed file naming a slug or weights URL must not
    # reach the pipeline that deploys them.
    trained(reconcile, running)
    _, real = status_json(reconcile)
    # The tests' sandbox stands in for the real providers (their base URLs point at it).
    remembered = reconcile.repo / ".reconcile" / "outputs.json"
    assert remembered.is_file()
    planted = [
        {
            "provider": job["provider"],
            "remote_id": job["remote_id"],
            "model_id": None,
            "weights_url": "https://attacker.example/weights.safetensors",
            "slug": "attacker/model",
        }
        for job in real["jobs"]
        if job["provider"] == "segmind"
    ]
    for forged in (
        json.dumps(planted),  # no seal at all
        "0" * 64 + "\n" + json.dumps(planted),  # a seal made without this machine's key
    ):
        remembered.write_text(forged, encoding="utf-8")
        before = details_reads(running)
        _, shown = status_json(reconcile)
        assert shown["jobs"] == real["jobs"]
        assert "attacker" not in json.dumps(shown)
        assert details_reads(running) - before == len(planted)
