"""The command line against the sandbox over real HTTP: converge, no-op, drift in the specs and
on the remote, blocked replaces, pruning, dry runs that only read, saved plans, the lock."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

from reconcile_sandbox.testing import RunningSandbox
from reconciler.apply.lease import Holder, LocalFileStore, WriterLease
from reconciler.config import load_settings
from reconciler.observing import EarlyLists
from reconciler.providers.clients import default_client_factory
from reconciler.specs.cache import state_dir
from tests.e2e.e2e_support import (
    Cli,
    actions,
    example_spec_names,
    job_rows,
    live_jobs,
    methods,
    plan_json,
    sandbox_env,
)
from tests.support.repos import TEST_OWNER

EXAMPLES = example_spec_names()


def segmind_job_id(running: RunningSandbox, name: str) -> str:
    """The id of the newest Segmind job of spec ``name`` (its remote name carries the owner)."""
    row = running.sandbox.store.query_one(
        "SELECT id FROM segmind_jobs WHERE name = ? ORDER BY created_sim DESC",
        (f"{TEST_OWNER}--{name}",),
    )
    assert row is not None, name
    return str(row["id"])


def test_a_fresh_converge_creates_one_job_per_spec_and_a_second_run_is_a_no_op(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    first = reconcile()
    assert first.exit_code == 0, first.output
    assert f"Plan: {len(EXAMPLES)} to create" in first.stdout
    assert f"Apply: {len(EXAMPLES)} done, 0 failed, 0 blocked" in first.stdout
    assert live_jobs(running, repo) == Counter(EXAMPLES)
    assert sum(job_rows(running).values()) == len(EXAMPLES)

    second = reconcile()
    assert second.exit_code == 0, second.output
    assert "0 to create, 0 to update, 0 to replace, 0 to delete" in second.stdout
    assert f"{len(EXAMPLES)} unchanged" in second.stdout
    assert sum(job_rows(running).values()) == len(EXAMPLES)

    detailed = reconcile("plan", "--detailed-exitcode")
    assert detailed.exit_code == 0, detailed.output
    dry = reconcile("--dry-run", "--detailed-exitcode")
    assert dry.exit_code == 0, dry.output


def test_a_kontext_spec_without_a_machine_trains_on_its_only_machine(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    # The profile fills in Kontext's only machine; the submit must carry it (the SDK requires a
    # machine_type for FLUX, and the sandbox refuses a FLUX submit without one).
    (repo / "specs" / "segmind-kontext.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: FineTune\nname: mascot-kontext\nprovider: segmind\n"
        "base_model: FLUX\ntheme: KONTEXT\ninstance_prompt: photo of TOK\n"
        "dataset: ../datasets/mascot/\n",
        encoding="utf-8",
    )
    applied = reconcile("apply", "--target", "mascot-kontext")
    assert applied.exit_code == 0, applied.output
    job = running.control.get("segmind", "jobs", segmind_job_id(running, "mascot-kontext"))
    assert (job["row"]["theme"], job["row"]["machine_type"]) == ("KONTEXT", "NVIDIA_H100")
    assert reconcile("plan", "--target", "mascot-kontext", "--detailed-exitcode").exit_code == 0


def test_a_dry_run_sends_only_get_requests(reconcile: Cli, running: RunningSandbox) -> None:
    running.control.clear_requests()
    result = reconcile("--dry-run", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert f"Plan: {len(EXAMPLES)} to create" in result.stdout
    sent = methods(running)
    assert sent and set(sent) == {"GET"}, sent
    assert sum(job_rows(running).values()) == 0


def test_a_dry_run_with_drift_everywhere_still_only_reads(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert reconcile().exit_code == 0
    (repo / "specs" / "segmind-flux-pro.yaml").write_text(
        (repo / "specs" / "segmind-flux-pro.yaml")
        .read_text()
        .replace("access: public", "access: private")
    )
    (repo / "datasets" / "support-qa.csv").write_text(
        (repo / "datasets" / "support-qa.csv").read_text() + 'Is there a dark mode?,"Yes."\n'
    )
    (repo / "specs" / "cohere-ticket-labels.yaml").unlink()
    running.control.clear_requests()
    result = reconcile("plan", "--prune", "--allow-replace", "--output", "json")
    assert result.exit_code == 0, result.output
    assert actions(plan_json(result)) == Counter(
        {
            ("update", "mascot-flux-pro-v1"): 1,
            ("replace", "support-qa-v1"): 1,
            ("delete", "ticket-labels-v1"): 1,
        }
    )
    assert set(methods(running)) == {"GET"}


def test_flipping_access_in_a_spec_yields_exactly_one_update(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert reconcile().exit_code == 0
    spec = repo / "specs" / "segmind-qwen.yaml"
    spec.write_text(spec.read_text().replace("access: private", "access: public"))

    planned = reconcile("plan", "--output", "json", "--detailed-exitcode")
    assert planned.exit_code == 2
    assert actions(plan_json(planned)) == Counter({("update", "mascot-qwen-v1"): 1})

    running.control.clear_requests()
    applied = reconcile()
    assert applied.exit_code == 0, applied.output
    writes = {k: v for k, v in running.control.request_counts().items() if not k.startswith("GET")}
    assert writes == {"PUT /segmind/finetune/request/access-update": 1}
    job = running.control.get("segmind", "jobs", segmind_job_id(running, "mascot-qwen-v1"))
    assert job["row"]["segmind_public"] == 1
    assert reconcile("plan", "--detailed-exitcode").exit_code == 0


def test_an_out_of_band_access_flip_is_detected_and_corrected(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert reconcile().exit_code == 0
    job_id = segmind_job_id(running, "mascot-flux-pro-v1")  # the spec says public
    running.control.set_fields("segmind", "jobs", job_id, segmind_public=0)

    planned = reconcile("plan", "--detailed-exitcode")
    assert planned.exit_code == 2
    assert re.search(
        r"~ mascot-flux-pro-v1\s+update: access is private, the spec says public", planned.stdout
    ), planned.stdout

    status = reconcile("status", "--output", "json")
    assert status.exit_code == 0
    by_name = {j["name"]: j for j in json.loads(status.stdout)["jobs"]}
    assert by_name["mascot-flux-pro-v1"]["sync"] == "OutOfSync"
    assert by_name["mascot-qwen-v1"]["sync"] == "Synced"

    assert reconcile().exit_code == 0
    assert running.control.get("segmind", "jobs", job_id)["row"]["segmind_public"] == 1
    assert reconcile("plan", "--detailed-exitcode").exit_code == 0


def test_a_changed_dataset_is_a_blocked_replace_until_allowed(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert reconcile().exit_code == 0
    csv = repo / "datasets" / "support-qa.csv"
    csv.write_text(csv.read_text() + 'Is there a dark mode?,"Yes: Settings, Appearance."\n')

    blocked = reconcile()
    assert blocked.exit_code == 1
    assert re.search(
        r"-/\+ support-qa-v1\s+replace \(blocked\): dataset cannot change", blocked.stdout
    )
    assert "rename the spec to train a new version, or pass --allow-replace" in blocked.stdout
    assert "Apply: 0 done, 0 failed, 1 blocked" in blocked.stdout
    assert sum(job_rows(running).values()) == len(EXAMPLES)

    replaced = reconcile("--allow-replace")
    assert replaced.exit_code == 0, replaced.output
    assert "Apply: 1 done, 0 failed, 0 blocked" in replaced.stdout
    assert job_rows(running)["qubrid"] == 3  # the old job stays as history
    assert reconcile("plan", "--detailed-exitcode").exit_code == 0


def test_prune_deletes_only_marked_jobs(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    running.control.seed("qubrid", 5, prefix="legacy")
    running.control.seed("cohere", 5, prefix="legacy")
    assert reconcile().exit_code == 0
    before = live_jobs(running, repo)
    (repo / "specs" / "qubrid-release-notes.yaml").unlink()
    (repo / "specs" / "cohere-ticket-labels.yaml").unlink()

    without = reconcile("plan", "--detailed-exitcode")
    assert without.exit_code == 0, without.output
    assert "--prune would delete it" in without.stdout

    planned = reconcile("plan", "--prune", "--output", "json")
    assert actions(plan_json(planned)) == Counter(
        {("delete", "release-notes-v1"): 1, ("delete", "ticket-labels-v1"): 1}
    )
    pruned = reconcile("--prune")
    assert pruned.exit_code == 0, pruned.output
    after = live_jobs(running, repo)
    gone = before - after
    assert gone == Counter({("qubrid", "release-notes-v1"): 1, ("cohere", "ticket-labels-v1"): 1})
    assert after + gone == before  # every seeded, unmarked job is still there
    assert reconcile("plan", "--prune", "--detailed-exitcode").exit_code == 0


def test_a_saved_plan_is_applied_exactly(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    running.control.set_speed(0.0)
    saved = repo / "plan.json"
    planned = reconcile("plan", "--out", str(saved))
    assert planned.exit_code == 0
    assert "reconcile apply --plan" in planned.stdout
    assert json.loads(saved.read_text())["summary"]["create"] == len(EXAMPLES)
    assert sum(job_rows(running).values()) == 0

    running.control.set_speed(600.0)  # uploads wait for dataset validation
    applied = reconcile("apply", "--plan", str(saved))
    assert applied.exit_code == 0, applied.output
    assert live_jobs(running, repo) == Counter(EXAMPLES)


def test_a_stale_saved_plan_is_refused(reconcile: Cli, running: RunningSandbox, repo: Path) -> None:
    assert reconcile().exit_code == 0
    running.control.set_speed(0.0)
    spec = repo / "specs" / "segmind-qwen.yaml"
    spec.write_text(spec.read_text().replace("access: private", "access: public"))
    saved = repo / "plan.json"
    assert reconcile("plan", "--out", str(saved)).exit_code == 0

    # The remote moves: someone flips another job's access in the console.
    other = segmind_job_id(running, "mascot-flux-pro-v1")
    running.control.set_fields("segmind", "jobs", other, segmind_public=0)
    running.control.clear_requests()
    refused = reconcile("apply", "--plan", str(saved))
    assert refused.exit_code == 1
    assert "the saved plan is stale" in refused.stderr
    assert "reconcile plan --out FILE" in refused.stderr
    assert set(methods(running)) == {"GET"}

    # The specs move instead: refused as well.
    running.control.set_fields("segmind", "jobs", other, segmind_public=1)
    fresh = repo / "fresh.json"
    assert reconcile("plan", "--out", str(fresh)).exit_code == 0
    spec.write_text(spec.read_text().replace("access: public", "access: private"))
    assert "stale" in reconcile("apply", "--plan", str(fresh)).stderr

    # A dataset moves: refused as well.
    spec.write_text(spec.read_text().replace("access: private", "access: public"))
    assert reconcile("plan", "--out", str(fresh)).exit_code == 0
    (repo / "datasets" / "mascot" / "fox-01.txt").write_text("a different caption")
    moved = reconcile("apply", "--plan", str(fresh))
    assert moved.exit_code == 1 and "stale" in moved.stderr
    assert (
        running.control.get("segmind", "jobs", segmind_job_id(running, "mascot-qwen-v1"))["row"][
            "segmind_public"
        ]
        == 0
    )


def test_saved_plan_options_cannot_be_overridden(reconcile: Cli, repo: Path) -> None:
    saved = repo / "plan.json"
    assert reconcile("plan", "--out", str(saved)).exit_code == 0
    result = reconcile("apply", "--plan", str(saved), "--prune")
    assert result.exit_code == 1
    assert "cannot be given with --plan" in result.stderr


def test_a_broken_plan_file_is_refused_clearly(reconcile: Cli, repo: Path) -> None:
    broken = repo / "plan.json"
    broken.write_text('{"format_version": 99}')
    result = reconcile("apply", "--plan", str(broken))
    assert result.exit_code == 1
    assert "plan.json: plan format version 99 is not supported" in result.stderr


def test_one_invalid_spec_means_no_change_is_sent(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    bad = repo / "specs" / "segmind-flux.yaml"
    bad.write_text(bad.read_text().replace("base_model: FLUX", "base_model: FLUX_ULTRA"))
    running.control.clear_requests()
    result = reconcile()
    assert result.exit_code == 1
    assert "segmind-flux.yaml:" in result.stderr
    assert "no change was sent to any provider" in result.stderr
    # The lists may have been requested while the specs were checked; nothing else was.
    sent = running.control.request_counts()
    assert all(request.startswith("GET ") for request in sent), sent
    assert sum(job_rows(running).values()) == 0


def test_an_apply_writes_nothing_while_another_holds_the_writer_lease(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    settings = load_settings(repo, environ={})
    other = Holder("other-apply", "ci-runner-7", 4242, "reconcile apply", 0.0)
    with WriterLease(LocalFileStore(state_dir(settings)), other, ttl=600.0):
        running.control.clear_requests()
        result = reconcile()
        assert result.exit_code == 1
        assert "the writer lease is held by `reconcile apply` (process 4242 on ci-runner-7" in (
            result.stderr
        )
        assert "nothing was written" in result.stderr
        assert "--lock-timeout" in result.stderr
        writes = [k for k in running.control.request_counts() if not k.startswith("GET")]
        assert writes == []
        assert reconcile("plan").exit_code == 0  # a plan needs no lease
    assert reconcile().exit_code == 0  # released: the next apply goes ahead


def test_status_lists_every_managed_job_with_sync_and_health(
    reconcile: Cli, running: RunningSandbox
) -> None:
    before = reconcile("status")
    assert before.exit_code == 0
    assert before.stdout.count("OutOfSync  Missing") == len(EXAMPLES)
    assert reconcile().exit_code == 0
    after = reconcile("status", "--output", "json")
    jobs = json.loads(after.stdout)["jobs"]
    assert sorted((j["provider"], j["name"]) for j in jobs) == sorted(EXAMPLES)
    assert {j["sync"] for j in jobs} == {"Synced"}
    assert all(j["health"] in {"Pending", "Progressing", "Healthy", "Degraded"} for j in jobs)
    markdown = reconcile("status", "--output", "markdown")
    assert markdown.stdout.startswith("### reconcile status")


def test_the_outputs_are_well_formed(reconcile: Cli) -> None:
    converge = reconcile("--output", "json")
    assert converge.exit_code == 0
    document = json.loads(converge.stdout)
    assert document["apply"]["done"] == len(EXAMPLES)
    assert document["plan"]["summary"]["create"] == len(EXAMPLES)
    markdown = reconcile("plan", "--output", "markdown")
    assert markdown.stdout.startswith("### reconcile plan")


def test_usage_errors_exit_1_not_2(reconcile: Cli) -> None:
    completed = reconcile.subprocess("plan", "--output", "xml")
    assert completed.returncode == 1
    assert "Invalid value for '--output'" in completed.stderr
    assert reconcile.subprocess("--help").returncode == 0


def test_prune_from_only_some_specs_is_refused(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert reconcile().exit_code == 0
    running.control.clear_requests()
    some = reconcile("--prune", "specs/qubrid-support-qa.yaml")
    assert some.exit_code == 1
    assert "--prune needs every spec" in some.stderr
    assert running.control.request_counts() == {}
    everything = reconcile("plan", "--prune", "specs", "--detailed-exitcode")
    assert everything.exit_code == 0, everything.output
    # Without --prune, a subset of the specs is fine: the others' jobs are merely unmanaged.
    assert reconcile("plan", "specs/qubrid-support-qa.yaml", "--detailed-exitcode").exit_code == 0


def test_abandoned_lists_stop_waiting_out_a_rate_limit(running: RunningSandbox, repo: Path) -> None:
    # What an invalid spec does to the lists requested while the specs were being checked:
    # here the sandbox answers Qubrid's with 429 and a 30 s Retry-After.
    running.control.add_fault(kind="rate_limit", provider="qubrid", retry_after=30.0)
    settings = load_settings(repo, environ=sandbox_env(running))
    running.control.clear_requests()
    early = EarlyLists(settings, default_client_factory, ["qubrid"])
    waited = 0.0
    while not running.control.request_counts() and waited < 10.0:
        time.sleep(0.05)
        waited += 0.05
    assert running.control.request_counts(), "the list was never requested"
    (listing,) = early.take().values()
    early.abandon()
    observation = listing.result(timeout=10.0)  # not the 30 s the provider asked for
    assert not observation.complete
    assert "the run has stopped" in (observation.error or "")
    sent = running.control.request_counts()
    assert sum(sent.values()) <= 3 and all(r.startswith("GET ") for r in sent), sent
