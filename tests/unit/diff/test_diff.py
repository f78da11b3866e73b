"""The diff, case by case: pairing, every action and reason, normalisation, pruning, blocking."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.action import Action
from reconciler.core.observed import (
    Health,
    ObservedJob,
    ObservedState,
    ProviderObservation,
    RemoteDataset,
)
from reconciler.core.plan import BlockKind, Change, DeleteMethod, Plan, PlanOptions
from reconciler.core.spec import DatasetKind, DatasetRef, DesiredJob, Provider
from reconciler.diff import identify_jobs, plan
from reconciler.diff.compare import compare_job, normalise_value
from reconciler.naming import marker_for
from reconciler.providers.profiles import PROFILES
from tests.support.diff_builders import (
    DATASET_DIR,
    FP_A,
    FP_B,
    OWNER,
    STATUS_FAILED,
    cohere_dataset_id,
    desired,
    job,
    observed,
    options,
    qubrid_dataset,
    spec,
)

NO_OPTIONS = options()


def only(result: Plan) -> Change:
    assert len(result.changes) == 1, result.changes
    return result.changes[0]


# --- create --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "remote_name", "file_name", "path"),
    [
        (
            "segmind",
            f"{OWNER}--mascot-rc{FP_A[:12]}.zip",
            f"{OWNER}--mascot-rc{FP_A[:12]}.zip",
            DATASET_DIR,
        ),
        (
            "qubrid",
            f"{OWNER}--mascot-rc{FP_A[:12]}.csv",
            f"{OWNER}--mascot-rc{FP_A[:12]}.csv",
            None,
        ),
        ("cohere", f"mascot-rc{FP_A[:12]}", f"mascot-rc{FP_A[:12]}.jsonl", None),
    ],
)
def test_create_uploads_the_dataset_under_its_marker(
    provider: Provider, remote_name: str, file_name: str, path: Path | None
) -> None:
    the_spec = spec(provider=provider)
    change = only(plan([desired(the_spec)], observed(), NO_OPTIONS))
    assert change.action is Action.CREATE
    assert change.reason == "no remote job has this name"
    assert change.upload is not None
    assert change.upload.remote_name == remote_name
    assert change.upload.file_name == file_name
    assert change.upload.path == (path or the_spec.dataset.path)
    assert (change.upload.size, change.upload.fingerprint) == (1_234_567, FP_A)
    assert change.reuse is None and change.blocked is None
    assert change.desired == desired(the_spec)


@pytest.mark.parametrize("provider", ["qubrid", "cohere"])
def test_create_reuses_a_listed_dataset_with_the_same_marker(provider: Provider) -> None:
    marker = PROFILES[provider].dataset_marker("mascot", FP_A, OWNER)
    listed = RemoteDataset(provider, "ds-1", str(marker), marker=marker)
    other = RemoteDataset(
        provider, "ds-2", "x", marker=PROFILES[provider].dataset_marker("mascot", FP_B)
    )
    change = only(
        plan([desired(spec(provider=provider))], observed(datasets=[listed, other]), NO_OPTIONS)
    )
    assert change.action is Action.CREATE
    assert change.upload is None
    assert change.reuse == listed
    assert change.reason == "no remote job has this name"


def test_create_does_not_reuse_a_dataset_the_provider_will_not_train_on() -> None:
    marker = marker_for("mascot", FP_A)
    failed = RemoteDataset("cohere", "ds-1", str(marker), marker=marker, usable=False)
    change = only(plan([desired(spec(provider="cohere"))], observed(datasets=[failed]), NO_OPTIONS))
    assert change.reuse is None
    assert change.upload is not None


def test_create_does_not_reuse_another_specs_dataset_with_the_same_content() -> None:
    marker = marker_for("other", FP_A)
    listed = RemoteDataset("qubrid", "ds-1", f"{marker}.csv", marker=marker)
    change = only(plan([desired(spec(provider="qubrid"))], observed(datasets=[listed]), NO_OPTIONS))
    assert change.reuse is None and change.upload is not None


@pytest.mark.parametrize(
    ("provider", "dataset"),
    [
        ("segmind", DatasetRef(DatasetKind.URL, "https://example.com/mascot.zip")),
        ("qubrid", DatasetRef(DatasetKind.ID, "ds-existing")),
        ("cohere", DatasetRef(DatasetKind.ID, "existing-abc123")),
    ],
)
def test_create_with_a_remote_dataset_uploads_nothing(
    provider: Provider, dataset: DatasetRef
) -> None:
    change = only(plan([desired(spec(provider=provider, dataset=dataset))], observed(), NO_OPTIONS))
    assert change.action is Action.CREATE
    assert change.upload is None and change.reuse is None


@pytest.mark.parametrize(
    ("provider", "status"), [("cohere", "STATUS_DELETED"), ("qubrid", "cancelled")]
)
def test_a_deleted_job_is_history_and_the_spec_creates_a_new_one(
    provider: Provider, status: str
) -> None:
    gone = job(provider=provider, status=status, remote_id="old-1")
    datasets = [qubrid_dataset("mascot", FP_A)] if provider == "qubrid" else []
    change = only(
        plan([desired(spec(provider=provider))], observed(gone, datasets=datasets), NO_OPTIONS)
    )
    assert change.action is Action.CREATE
    assert change.history == ("old-1",)
    assert change.reason.startswith(f"the last job (old-1) is {status}")


def test_a_local_dataset_without_a_fingerprint_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="fingerprint and upload size"):
        plan([desired(spec(), fingerprint=None)], observed(), NO_OPTIONS)


def test_two_specs_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two specs name segmind job 'mascot'"):
        plan([desired(spec()), desired(spec())], observed(), NO_OPTIONS)


# --- noop and health -----------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["segmind", "qubrid", "cohere"])
def test_a_matching_job_is_a_noop_with_its_health(provider: Provider) -> None:
    datasets = [qubrid_dataset("mascot", FP_A)] if provider == "qubrid" else []
    remote = job(provider=provider, remote_id="r-1", parameters={"steps": 10})
    the_spec = spec(provider=provider, parameters={"steps": 10})
    change = only(plan([desired(the_spec)], observed(remote, datasets=datasets), NO_OPTIONS))
    assert change.action is Action.NOOP
    assert change.health is Health.HEALTHY
    assert change.current is not None and change.current.remote_id == "r-1"
    assert change.reason.startswith("in sync; ")


@pytest.mark.parametrize("provider", ["segmind", "qubrid", "cohere"])
def test_a_failed_job_is_degraded_and_not_resubmitted(provider: Provider) -> None:
    datasets = [qubrid_dataset("mascot", FP_A)] if provider == "qubrid" else []
    remote = job(provider=provider, status=STATUS_FAILED[provider], error_message="GPU overloaded")
    change = only(
        plan([desired(spec(provider=provider))], observed(remote, datasets=datasets), NO_OPTIONS)
    )
    assert change.action is Action.NOOP
    assert change.health is Health.DEGRADED
    assert "GPU overloaded" in change.reason
    assert "not resubmitted" in change.reason


def test_retry_failed_resubmits_a_failed_job_without_needing_allow_replace() -> None:
    remote = job(status="FAILED")
    change = only(plan([desired(spec())], observed(remote), options(retry_failed=True)))
    assert change.action is Action.REPLACE
    assert change.blocked is None
    assert "--retry-failed" in change.reason
    assert change.upload is not None


def test_retry_failed_leaves_healthy_jobs_alone() -> None:
    change = only(plan([desired(spec())], observed(job()), options(retry_failed=True)))
    assert change.action is Action.NOOP


# --- update --------------------------------------------------------------------------------


def test_only_access_differs_is_an_update_of_that_job() -> None:
    remote = job(remote_id="r-1", access="private")
    change = only(plan([desired(spec(access="public"))], observed(remote), NO_OPTIONS))
    assert change.action is Action.UPDATE
    assert change.target_id == "r-1"
    assert [(f.path, f.remote, f.desired) for f in change.field_changes] == [
        ("access", "private", "public")
    ]
    assert change.reason == "access is private, the spec says public"
    assert change.upload is None and change.blocked is None


def test_access_is_not_compared_when_the_spec_leaves_it_out() -> None:
    remote = job(access="public")
    change = only(plan([desired(spec())], observed(remote), NO_OPTIONS))
    assert change.action is Action.NOOP


# --- replace -------------------------------------------------------------------------------

REPLACE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("segmind", {}, {"fingerprint": FP_B}, "dataset"),
    ("segmind", {"base_model": "FLUX"}, {}, "base_model"),
    ("segmind", {"theme": "STYLE"}, {"theme": "CHARACTER"}, "theme"),
    ("segmind", {"train_type": "LORA"}, {"train_type": "FULL"}, "train_type"),
    ("segmind", {"instance_prompt": "a fox"}, {"instance_prompt": "a cat"}, "instance_prompt"),
    (
        "segmind",
        {"parameters": {"iterations": 300}},
        {"parameters": {"iterations": 200}},
        "parameters.iterations",
    ),
    ("qubrid", {"task_type": "not_qa"}, {}, "task_type"),
    ("qubrid", {"parameters": {"epochs": 3}}, {"parameters": {"epochs": 2}}, "parameters.epochs"),
    ("cohere", {"base_type": "BASE_TYPE_CLASSIFICATION"}, {}, "base_type"),
    (
        "cohere",
        {"wandb": {"project": "p2"}},
        {"wandb": {"project": "p1", "entity": "e"}},
        "wandb.project",
    ),
    (
        "cohere",
        {"parameters": {"train_epochs": 2}},
        {"parameters": {"train_epochs": 1}},
        "parameters.train_epochs",
    ),
    (
        "segmind",
        {"dataset": DatasetRef(DatasetKind.URL, "https://example.com/new.zip")},
        {"dataset_ref": "https://example.com/old.zip"},
        "dataset",
    ),
    (
        "cohere",
        {"dataset": DatasetRef(DatasetKind.ID, "new-abc123")},
        {"dataset_ref": "old-abc123"},
        "dataset",
    ),
]


@pytest.mark.parametrize(("provider", "spec_fields", "job_fields", "path"), REPLACE_CASES)
def test_an_immutable_difference_is_a_blocked_replace(
    provider: Provider, spec_fields: dict[str, Any], job_fields: dict[str, Any], path: str
) -> None:
    job_fields = dict(job_fields)
    fingerprint = job_fields.pop("fingerprint", FP_A)
    remote = job(provider=provider, remote_id="r-1", fingerprint=fingerprint, **job_fields)
    datasets = [qubrid_dataset("mascot", fingerprint)] if provider == "qubrid" else []
    wanted = desired(spec(provider=provider, **spec_fields))
    change = only(plan([wanted], observed(remote, datasets=datasets), NO_OPTIONS))
    assert change.action is Action.REPLACE
    assert [f.path for f in change.field_changes] == [path]
    assert change.reason == f"{path} cannot change on a submitted job"
    assert change.blocked is not None
    assert change.blocked.kind is BlockKind.NEEDS_ALLOW_REPLACE
    assert "rename the spec to train a new version" in change.blocked.fix
    assert change.current is not None and change.current.remote_id == "r-1"


@pytest.mark.parametrize(("provider", "spec_fields", "job_fields", "path"), REPLACE_CASES[:3])
def test_allow_replace_lets_the_replace_through(
    provider: Provider, spec_fields: dict[str, Any], job_fields: dict[str, Any], path: str
) -> None:
    job_fields = dict(job_fields)
    fingerprint = job_fields.pop("fingerprint", FP_A)
    remote = job(provider=provider, fingerprint=fingerprint, **job_fields)
    change = only(
        plan(
            [desired(spec(provider=provider, **spec_fields))],
            observed(remote),
            options(allow_replace=True),
        )
    )
    assert change.action is Action.REPLACE
    assert change.blocked is None
    assert change.upload is not None and change.upload.fingerprint == FP_A


def test_a_replace_reports_the_access_change_too() -> None:
    remote = job(fingerprint=FP_B, access="private")
    change = only(plan([desired(spec(access="public"))], observed(remote), NO_OPTIONS))
    assert change.action is Action.REPLACE
    assert [f.path for f in change.field_changes] == ["dataset", "access"]
    assert change.reason == "dataset cannot change on a submitted job"


def test_a_dataset_change_shows_both_fingerprints() -> None:
    remote = job(fingerprint=FP_B)
    (field_change,) = compare_job(
        desired(spec()), identify_jobs(observed(remote).providers["segmind"])[0]
    )
    assert (field_change.remote, field_change.desired) == (FP_B[:12], FP_A[:12])


# --- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "seen"),
    [
        (1, 1.0),
        (300, "300"),
        (0.0004, "4e-4"),
        ("LORA", "lora"),
        ("Adafactor", "ADAFACTOR"),
        (True, "True"),
        (False, "false"),
        (True, "TRUE"),
        ("https://example.com/a.zip", "https://example.com/a.zip/"),
        ("https://example.com/a.zip", "https://example.com/a.zip?X-Amz-Signature=abc"),
        ([1, 2], (1.0, 2.0)),
        ({"a": 1}, {"a": 1.0}),
        (" padded ", "padded"),
    ],
)
def test_normalisation_makes_equal_values_equal(wanted: Any, seen: Any) -> None:
    remote = job(parameters={"value": seen})
    change = only(plan([desired(spec(parameters={"value": wanted}))], observed(remote), NO_OPTIONS))
    assert change.action is Action.NOOP, change.field_changes


@pytest.mark.parametrize(
    ("key", "wanted", "seen"),
    [
        ("value", 1, 2),
        ("value", True, 1),  # a flag is not a number
        ("value", "LORA", "FULL"),
        ("prompt", "photo of TOK", "photo of tok"),  # free text keeps its case
        ("prompt", "TOK", "tok"),
        ("value", [1, 2], [2, 1]),
    ],
)
def test_normalisation_keeps_different_values_different(key: str, wanted: Any, seen: Any) -> None:
    remote = job(parameters={key: seen})
    change = only(plan([desired(spec(parameters={key: wanted}))], observed(remote), NO_OPTIONS))
    assert change.action is Action.REPLACE
    assert [f.path for f in change.field_changes] == [f"parameters.{key}"]


def test_trigger_word_case_matters() -> None:
    assert normalise_value("TOK", free_text=True) != normalise_value("tok", free_text=True)
    assert normalise_value("TOK") == normalise_value("tok")


# --- only what the spec sets and the list reveals ------------------------------------------


def test_a_field_the_spec_does_not_set_is_not_compared() -> None:
    the_spec = spec(theme="STYLE", set_fields={"name", "provider", "base_model", "dataset"})
    change = only(plan([desired(the_spec)], observed(job(theme="CHARACTER")), NO_OPTIONS))
    assert change.action is Action.NOOP


def test_a_field_the_list_does_not_reveal_is_not_compared() -> None:
    the_spec = spec(trigger_word="TOK", machine_type="NVIDIA_H100")
    change = only(plan([desired(the_spec)], observed(job()), NO_OPTIONS))
    assert change.action is Action.NOOP


def test_parameters_the_list_does_not_show_are_not_compared() -> None:
    the_spec = spec(parameters={"iterations": 300, "lora_rank": 16})
    remote = job(parameters={"iterations": 300, "steps": 1000})
    assert only(plan([desired(the_spec)], observed(remote), NO_OPTIONS)).action is Action.NOOP
    hidden = job(parameters=None)
    assert only(plan([desired(the_spec)], observed(hidden), NO_OPTIONS)).action is Action.NOOP


def test_a_cohere_base_model_name_left_to_the_provider_is_not_drift() -> None:
    the_spec = spec(provider="cohere", base_model="")
    remote = job(provider="cohere", base_model="medium")
    assert only(plan([desired(the_spec)], observed(remote), NO_OPTIONS)).action is Action.NOOP
    named = spec(provider="cohere", base_model="command-r-08-2024")
    change = only(plan([desired(named)], observed(remote), NO_OPTIONS))
    assert change.action is Action.REPLACE


def test_a_provider_default_the_spec_does_not_set_is_not_drift() -> None:
    remote = job(parameters={"iterations": 300, "priority": "QUALITY"}, theme="CHARACTER")
    change = only(
        plan([desired(spec(parameters={"iterations": 300}))], observed(remote), NO_OPTIONS)
    )
    assert change.action is Action.NOOP


# --- pairing -------------------------------------------------------------------------------


def test_the_newest_of_several_same_named_jobs_is_current() -> None:
    old = job(remote_id="old", fingerprint=FP_B, created=1)
    new = job(remote_id="new", created=2)
    change = only(plan([desired(spec())], observed(new, old), NO_OPTIONS))
    assert change.action is Action.NOOP
    assert change.current is not None and change.current.remote_id == "new"
    assert change.history == ("old",)


def test_a_newer_job_that_differs_is_what_gets_replaced() -> None:
    old = job(remote_id="old", created=1)
    new = job(remote_id="new", fingerprint=FP_B, created=2)
    change = only(plan([desired(spec())], observed(old, new), NO_OPTIONS))
    assert change.action is Action.REPLACE
    assert change.current is not None and change.current.remote_id == "new"


def test_without_timestamps_the_sequence_orders_jobs() -> None:
    first = replace(job(remote_id="zzz", fingerprint=FP_B), sequence=1)
    second = replace(job(remote_id="aaa"), sequence=2)
    change = only(plan([desired(spec())], observed(first, second), NO_OPTIONS))
    assert change.current is not None and change.current.remote_id == "aaa"


def test_a_deleted_newest_job_leaves_the_older_live_one_current() -> None:
    old = job("mascot", "cohere", remote_id="old", created=1)
    gone = job("mascot", "cohere", remote_id="gone", status="STATUS_DELETED", created=2)
    change = only(plan([desired(spec(provider="cohere"))], observed(old, gone), NO_OPTIONS))
    assert change.action is Action.NOOP
    assert change.current is not None and change.current.remote_id == "old"


def test_qubrid_jobs_are_paired_through_their_dataset_name() -> None:
    ours = job("mascot", "qubrid", remote_id="q-1")
    theirs = job(None, "qubrid", remote_id="q-2", dataset_ref="ds-unrelated")
    listed = [qubrid_dataset("mascot", FP_A), RemoteDataset("qubrid", "ds-unrelated", "data.csv")]
    result = plan(
        [desired(spec(provider="qubrid"))], observed(ours, theirs, datasets=listed), NO_OPTIONS
    )
    change = only(result)
    assert change.action is Action.NOOP
    assert change.current is not None and change.current.name == "mascot"
    assert [j.remote_id for j in result.unmanaged] == ["q-2"]
    assert result.unmanaged[0].name is None


def test_a_qubrid_spec_with_an_id_dataset_pairs_through_the_dataset_id() -> None:
    the_spec = spec(provider="qubrid", dataset=DatasetRef(DatasetKind.ID, "ds-shared"))
    remote = job(None, "qubrid", remote_id="q-1", dataset_ref="ds-shared")
    change = only(plan([desired(the_spec)], observed(remote), NO_OPTIONS))
    assert change.action is Action.NOOP


def test_a_job_a_spec_names_is_managed_without_the_marker() -> None:
    url = "https://example.com/mascot.zip"
    the_spec = spec(dataset=DatasetRef(DatasetKind.URL, url))
    remote = job(dataset_ref=url, fingerprint=None)
    change = only(plan([desired(the_spec)], observed(remote), NO_OPTIONS))
    assert change.action is Action.NOOP
    assert change.current is not None and change.current.marker is None


def test_an_unmarked_job_cannot_prove_it_holds_a_local_dataset() -> None:
    remote = job(dataset_ref="https://example.com/mascot.zip", fingerprint=None)
    change = only(plan([desired(spec())], observed(remote), NO_OPTIONS))
    assert change.action is Action.REPLACE
    assert [(f.path, f.remote) for f in change.field_changes] == [
        ("dataset", "https://example.com/mascot.zip")
    ]


def test_a_dataset_marked_for_another_name_does_not_rename_the_job() -> None:
    remote = job("mascot", "cohere", dataset_ref=cohere_dataset_id("other", FP_A))
    (identified,) = identify_jobs(observed(remote).providers["cohere"])
    assert identified.marker is not None and identified.marker.name == "other"
    assert (identified.owner, identified.name) == (OWNER, "mascot")


# --- unmanaged and prune -------------------------------------------------------------------


def test_jobs_no_spec_names_are_listed_and_never_changed() -> None:
    strangers = [
        job("hand-made", fingerprint=None, dataset_ref="https://x.test/a.zip", owner=None),
        job("ours"),
    ]
    result = plan([], observed(*strangers), NO_OPTIONS)
    assert result.changes == ()
    assert [j.name for j in result.unmanaged] == ["hand-made", "ours"]
    assert [j.owned_by(OWNER) for j in result.unmanaged] == [False, True]


@pytest.mark.parametrize(
    ("remote", "datasets", "method", "target"),
    [
        (job("old", "cohere", remote_id="m-1"), [], DeleteMethod.DELETE_MODEL, "m-1"),
        (
            job("old", "qubrid", remote_id="j-1", status="running"),
            [qubrid_dataset("old", FP_A)],
            DeleteMethod.CANCEL_JOB,
            "j-1",
        ),
        (
            job("old", "qubrid", remote_id="j-1", status="queued"),
            [qubrid_dataset("old", FP_A)],
            DeleteMethod.CANCEL_JOB,
            "j-1",
        ),
        (
            job("old", "qubrid", remote_id="j-1", status="completed", model_id="model-9"),
            [qubrid_dataset("old", FP_A)],
            DeleteMethod.DELETE_MODEL,
            "model-9",
        ),
    ],
)
def test_prune_deletes_a_marked_job_no_spec_names(
    remote: ObservedJob, datasets: list[RemoteDataset], method: DeleteMethod, target: str
) -> None:
    change = only(plan([], observed(remote, datasets=datasets), options(prune=True)))
    assert change.action is Action.DELETE
    assert (change.delete_method, change.target_id) == (method, target)
    assert change.blocked is None
    assert change.reason == "no spec names it and --prune is set"


def test_prune_never_reaches_a_job_without_an_owner() -> None:
    stranger = job(
        "hand-made", "cohere", fingerprint=None, dataset_ref="their-data-abc123", owner=None
    )
    result = plan([], observed(stranger), options(prune=True))
    assert result.changes == ()
    assert [j.remote_id for j in result.unmanaged] == [stranger.remote_id]


@pytest.mark.parametrize("provider", ["segmind", "qubrid", "cohere"])
def test_prune_never_reaches_another_repositorys_job(provider: Provider) -> None:
    theirs = job(
        "old",
        provider,
        remote_id="j-1",
        status="running" if provider == "qubrid" else None,
        owner="other",
    )
    datasets = [qubrid_dataset("old", FP_A, owner="other")] if provider == "qubrid" else []
    result = plan([], observed(theirs, datasets=datasets), options(prune=True))
    assert result.changes == ()
    assert [(j.remote_id, j.owner) for j in result.unmanaged] == [("j-1", "other")]


def test_without_prune_a_marked_orphan_is_only_listed() -> None:
    result = plan([], observed(job("old", "cohere")), NO_OPTIONS)
    assert result.changes == ()
    assert len(result.unmanaged) == 1


def test_segmind_cannot_delete_and_says_so() -> None:
    change = only(plan([], observed(job("old")), options(prune=True)))
    assert change.action is Action.DELETE
    assert change.blocked is not None
    assert change.blocked.kind is BlockKind.NOT_SUPPORTED
    assert "Segmind has no delete endpoint" in change.reason
    assert change.delete_method is None


def test_prune_leaves_a_failed_qubrid_job_it_cannot_delete_listed() -> None:
    failed = job("old", "qubrid", status="failed")
    result = plan([], observed(failed, datasets=[qubrid_dataset("old", FP_A)]), options(prune=True))
    assert result.changes == ()
    assert len(result.unmanaged) == 1


def test_a_completed_qubrid_job_without_a_model_id_is_a_blocked_delete() -> None:
    done = job("old", "qubrid", status="completed")
    change = only(
        plan([], observed(done, datasets=[qubrid_dataset("old", FP_A)]), options(prune=True))
    )
    assert change.blocked is not None and change.blocked.kind is BlockKind.NOT_SUPPORTED


def test_prune_deletes_every_live_marked_job_of_a_removed_name() -> None:
    old = job("old", "cohere", remote_id="m-1", created=1)
    new = job("old", "cohere", remote_id="m-2", created=2)
    gone = job("old", "cohere", remote_id="m-0", status="STATUS_DELETED", created=0)
    result = plan([], observed(old, new, gone), options(prune=True))
    assert [(c.action, c.target_id) for c in result.changes] == [
        (Action.DELETE, "m-1"),
        (Action.DELETE, "m-2"),
    ]


def test_history_of_a_managed_name_is_not_pruned() -> None:
    old = job("mascot", "cohere", remote_id="m-1", created=1)
    new = job("mascot", "cohere", remote_id="m-2", created=2)
    change = only(plan([desired(spec(provider="cohere"))], observed(old, new), options(prune=True)))
    assert change.action is Action.NOOP and change.history == ("m-1",)


# --- incomplete observations ---------------------------------------------------------------


def test_an_incomplete_observation_plans_no_spec_and_blocks_the_deletes_it_saw() -> None:
    remote = job("other", "cohere", access=None)
    state = observed(remote, incomplete={"cohere": "HTTP 503 on page 2"})
    specs = [desired(spec(name="b", provider="cohere")), desired(spec(name="a", provider="cohere"))]
    result = plan(specs, state, options(prune=True))
    # No create: that no remote job has the name is what the unread pages could deny.
    [delete] = result.changes
    assert delete.action is Action.DELETE and delete.name == "other"
    assert delete.blocked is not None
    assert delete.blocked.kind is BlockKind.INCOMPLETE_OBSERVATION
    assert "HTTP 503 on page 2" in delete.blocked.reason
    [incomplete] = result.incomplete
    assert (incomplete.provider, incomplete.error) == ("cohere", "HTTP 503 on page 2")
    assert incomplete.not_planned == ("a", "b")
    assert result.summary.not_planned == 2
    assert (result.summary.create, result.summary.blocked) == (0, 1)


def test_a_provider_never_observed_has_its_specs_not_planned() -> None:
    state = ObservedState.of(ProviderObservation("segmind"))
    result = plan([desired(spec(provider="qubrid")), desired(spec())], state, NO_OPTIONS)
    [change] = result.changes
    assert (change.provider, change.action, change.blocked) == ("segmind", Action.CREATE, None)
    assert [(i.provider, i.error, i.not_planned) for i in result.incomplete] == [
        ("qubrid", "not observed", ("mascot",))
    ]


def test_a_provider_that_refuses_the_service_blocks_each_change_with_a_short_reason() -> None:
    refusal = "Cohere deprecated its fine-tuning API; move these specs"
    remote = job("other", "cohere", access=None)
    state = ObservedState.of(
        ProviderObservation("cohere", jobs=(remote,), complete=False, error="e", refused=refusal)
    )
    specs = [desired(spec(name="a", provider="cohere")), desired(spec(name="b", provider="cohere"))]
    result = plan(specs, state, options(prune=True))
    assert result.changes
    for change in result.changes:
        assert change.blocked is not None
        assert change.blocked.kind is BlockKind.PROVIDER_REFUSED
        assert change.blocked.reason == "cohere refuses fine-tuning: see above"
        assert refusal not in change.blocked.reason + change.blocked.fix + change.reason
    # The message itself is carried once, on the plan.
    assert [(i.provider, i.error, i.refused) for i in result.incomplete] == [
        ("cohere", refusal, True)
    ]
    assert not result.actionable


def test_an_incomplete_observation_still_reports_noops() -> None:
    state = observed(job(), incomplete={"segmind": "timeout"})
    change = only(plan([desired(spec())], state, NO_OPTIONS))
    assert change.action is Action.NOOP and change.blocked is None


# --- the plan value ------------------------------------------------------------------------


def test_changes_are_sorted_by_provider_then_name() -> None:
    specs = [desired(spec(n, p)) for p in ("segmind", "cohere", "qubrid") for n in ("b", "a")]
    result = plan(specs, observed(), NO_OPTIONS)
    assert [(c.provider, c.name) for c in result.changes] == [
        ("cohere", "a"),
        ("cohere", "b"),
        ("qubrid", "a"),
        ("qubrid", "b"),
        ("segmind", "a"),
        ("segmind", "b"),
    ]


def test_summary_counts_every_action_and_the_blocked() -> None:
    remote = [job("same"), job("flip", access="private"), job("changed", fingerprint=FP_B)]
    specs = [
        desired(spec("new")),
        desired(spec("same")),
        desired(spec("flip", access="public")),
        desired(spec("changed")),
    ]
    summary = plan(specs, observed(*remote), NO_OPTIONS).summary
    assert (summary.create, summary.update, summary.replace, summary.delete) == (1, 1, 1, 0)
    assert (summary.noop, summary.blocked) == (1, 1)
    assert summary.has_changes
    result = plan(specs, observed(*remote), NO_OPTIONS)
    assert {c.name: c.in_sync for c in result.changes} == {
        "changed": False,
        "flip": False,
        "new": False,
        "same": True,
    }
    assert [c.name for c in result.actionable] == ["flip", "new"]


def test_a_plan_is_deterministic_whatever_the_listing_order() -> None:
    jobs = [job("a", created=1), job("b", created=2), job("a", remote_id="a2", created=3)]
    specs = [desired(spec("a")), desired(spec("b", access="public"))]
    assert plan(specs, observed(*jobs), NO_OPTIONS) == plan(
        specs, observed(*reversed(jobs)), NO_OPTIONS
    )


# --- the snapshot --------------------------------------------------------------------------


def snapshot(
    specs: list[DesiredJob], state: ObservedState, options: PlanOptions = NO_OPTIONS
) -> str:
    return plan(specs, state, options).snapshot


def test_the_snapshot_moves_when_a_spec_a_dataset_or_the_remote_moves() -> None:
    base_specs = [desired(spec(access="public"))]
    base = snapshot(base_specs, observed(job()))
    assert snapshot(base_specs, observed(job())) == base
    assert snapshot([desired(spec(access="private"))], observed(job())) != base
    assert snapshot([desired(spec(access="public"), fingerprint=FP_B)], observed(job())) != base
    assert snapshot(base_specs, observed(job(access="public"))) != base
    assert snapshot(base_specs, observed(job(), job("other"))) != base
    assert snapshot(base_specs, observed(job(status="FAILED"))) != base
    assert snapshot(base_specs, observed(job()), options(prune=True)) != base
    assert snapshot(base_specs, observed(job(), incomplete={"cohere": "x"})) != base


def test_the_snapshot_ignores_progress_and_where_a_spec_is_written() -> None:
    base_specs = [desired(spec())]
    base = snapshot(base_specs, observed(job(status="REQUESTED")))
    assert snapshot(base_specs, observed(job(status="TRAINING_INITIATED"))) == base
    moved = replace(spec(), source=replace(spec().source, line=40))
    assert snapshot([desired(moved)], observed(job(status="REQUESTED"))) == base
