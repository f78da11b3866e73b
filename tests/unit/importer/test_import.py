"""``reconcile import`` without a network: remote job -> spec document, per provider; which jobs
are selected; rendering, checking and writing; and the round trip through the real spec loader
and the diff (an imported spec is in sync with the job it came from)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler import __version__
from reconciler.config import load_settings
from reconciler.core.action import Action
from reconciler.core.observed import ObservedJob, ObservedState, ProviderObservation, RemoteDataset
from reconciler.core.plan import PlanOptions
from reconciler.core.spec import Provider
from reconciler.diff import plan
from reconciler.importer import ImportRefusedError
from reconciler.importer.command import ImportReport
from reconciler.importer.document import ImportedSpec, SkippedJob, spec_document
from reconciler.importer.select import select_jobs
from reconciler.importer.write import (
    SpecFile,
    prepare_files,
    render_spec,
    schema_modeline,
    write_files,
)
from reconciler.providers.profiles import PROFILES
from reconciler.providers.qubrid.profile import derived_qubrid_name, parse_qubrid_dataset_name
from reconciler.specs import load_specs
from reconciler.specs.desired import desired_jobs
from reconciler.views.import_report import render_report
from reconciler.yamlio.yaml_source import parse_yaml_text
from tests.support.paths import REPO

T0 = datetime(2026, 11, 1, tzinfo=UTC)
STATUS: Mapping[Provider, str] = {
    "segmind": "AVAILABLE",
    "qubrid": "completed",
    "cohere": "STATUS_READY",
}
# Segmind has no delete, so no status for a deleted job.
GONE: Mapping[Provider, str] = {"qubrid": "cancelled", "cohere": "STATUS_DELETED"}


def job(provider: Provider, remote_id: str, name: str | None, **fields: Any) -> ObservedJob:
    status = fields.pop("raw_status", STATUS[provider])
    defaults: dict[str, Any] = {
        "segmind": {
            "base_model": "FLUX_PRO",
            "dataset_ref": f"https://data.example.com/{remote_id}.zip",
            "access": "private",
            "theme": "GENERAL",
            "train_type": "LORA",
            "parameters": {"iterations": 300, "prompt": "photo of TOK, a fox", "theme": "GENERAL"},
        },
        "qubrid": {
            "base_model": "Qwen/Qwen2.5-7B-Instruct",
            "dataset_ref": f"ds-{remote_id}",
            "task_type": "qa",
            "parameters": {"epochs": 3, "learning_rate": 0.0002},
        },
        "cohere": {
            "base_type": "BASE_TYPE_CHAT",
            "dataset_ref": f"{name}-data-abc123",
            "parameters": {"train_epochs": 1, "learning_rate": 0.01},
        },
    }[provider]
    return ObservedJob(
        provider=provider,
        remote_id=remote_id,
        name=name,
        raw_status=status,
        health=PROFILES[provider].health(status),
        **{**defaults, **fields},
    )


def document(made: ImportedSpec | SkippedJob) -> dict[str, Any]:
    assert isinstance(made, ImportedSpec), made
    return dict(made.document)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    shutil.copytree(REPO / "schemas", root / "schemas")
    return root


# --- one job -> one document ----------------------------------------------------------------


def test_a_segmind_flux_pro_job_becomes_its_spec() -> None:
    made = spec_document(job("segmind", "j1", "mascot-pro"))
    assert document(made) == {
        "apiVersion": "reconciler/v1",
        "kind": "FineTune",
        "name": "mascot-pro",
        "provider": "segmind",
        "adopt": ["j1"],
        "base_model": "FLUX_PRO",
        "dataset": {"url": "https://data.example.com/j1.zip"},
        "access": "private",
        "instance_prompt": "photo of TOK, a fox",
        "theme": "GENERAL",
        "train_type": "LORA",
        "parameters": {"iterations": 300},
    }
    assert isinstance(made, ImportedSpec)
    assert made.notes == ()  # Flux Pro needs no trigger word: nothing is a placeholder


@pytest.mark.parametrize("base_model", ["QWEN", "FAST_FLUX", "FLUX"])
def test_a_trigger_word_the_list_never_shows_is_a_noted_placeholder(base_model: str) -> None:
    made = spec_document(
        job(
            "segmind",
            "j1",
            "fox",
            base_model=base_model,
            theme=None,
            parameters={"steps": 9, "prompt": "a TOK"},
        )
    )
    assert isinstance(made, ImportedSpec)
    assert made.document["trigger_word"] == "TOK"
    # FLUX's machine is not in the list either, and a FLUX spec must name one.
    noted = ["trigger_word", "machine_type"] if base_model == "FLUX" else ["trigger_word"]
    assert [note.split(":")[0] for note in made.notes] == noted
    assert all("placeholder" in note for note in made.notes)
    if base_model == "FLUX":
        assert made.document["machine_type"] == "NVIDIA_A100_40GB"
    else:
        assert "machine_type" not in made.document


def test_flux_kontext_needs_no_trigger_word() -> None:
    made = spec_document(job("segmind", "j1", "edit", base_model="FLUX", theme="KONTEXT"))
    assert "trigger_word" not in document(made)


def test_a_segmind_prompt_missing_from_the_list_is_a_noted_placeholder() -> None:
    made = spec_document(job("segmind", "j1", "fox", parameters={"iterations": 100}))
    assert isinstance(made, ImportedSpec)
    assert made.document["instance_prompt"] == "photo of TOK"
    assert any(note.startswith("instance_prompt:") for note in made.notes)


def test_a_segmind_url_loses_its_pre_signed_query() -> None:
    url = "https://bucket.example.com/uploads/u/f1-fox.zip?X-Amz-Signature=SECRET&X-Amz-Date=1"
    made = document(spec_document(job("segmind", "j1", "fox", dataset_ref=url)))
    assert made["dataset"] == {"url": "https://bucket.example.com/uploads/u/f1-fox.zip"}
    assert "SECRET" not in repr(made)


def test_public_access_is_written_as_the_list_shows_it() -> None:
    assert document(spec_document(job("segmind", "j1", "fox", access="public")))["access"] == (
        "public"
    )


def test_a_qubrid_job_becomes_its_spec() -> None:
    made = spec_document(job("qubrid", "ftjob-1", "support-qa"))
    assert document(made) == {
        "apiVersion": "reconciler/v1",
        "kind": "FineTune",
        "name": "support-qa",
        "provider": "qubrid",
        "adopt": ["ftjob-1"],
        "base_model": "Qwen/Qwen2.5-7B-Instruct",
        "dataset": {"id": "ds-ftjob-1"},
        "task_type": "qa",
        "parameters": {"epochs": 3, "learning_rate": 0.0002},
    }


def test_a_qubrid_job_without_task_type_is_skipped() -> None:
    made = spec_document(job("qubrid", "ftjob-1", "qa", task_type=None))
    assert isinstance(made, SkippedJob)
    assert "task_type" in made.reason


def test_a_cohere_job_becomes_its_spec_with_base_model_as_a_mapping() -> None:
    made = spec_document(
        job(
            "cohere",
            "m1",
            "chat-v1",
            base_model="command-r-08-2024",
            wandb={"project": "p", "entity": "e"},
        )
    )
    assert document(made) == {
        "apiVersion": "reconciler/v1",
        "kind": "FineTune",
        "name": "chat-v1",
        "provider": "cohere",
        "adopt": ["m1"],
        "base_model": {"base_type": "BASE_TYPE_CHAT", "name": "command-r-08-2024"},
        "dataset": {"id": "chat-v1-data-abc123"},
        "wandb": {"project": "p", "entity": "e"},
        "parameters": {"learning_rate": 0.01, "train_epochs": 1},
    }


def test_a_cohere_base_model_without_a_name_writes_the_base_type_only() -> None:
    made = document(spec_document(job("cohere", "m1", "chat-v1")))
    assert made["base_model"] == {"base_type": "BASE_TYPE_CHAT"}


def test_parameters_are_sorted_and_nulls_left_out() -> None:
    made = document(
        spec_document(job("qubrid", "f", "qa", parameters={"max_steps": None, "epochs": 2}))
    )
    assert made["parameters"] == {"epochs": 2}
    assert list(document(spec_document(job("cohere", "m", "c")))["parameters"]) == [
        "learning_rate",
        "train_epochs",
    ]


@pytest.mark.parametrize(
    ("provider", "name"),
    [
        ("segmind", "Mascot Flux"),
        ("segmind", "mascot_flux"),
        ("cohere", "a" * 35),  # Cohere names stop at 34 characters
        ("segmind", "a" * 65),
    ],
)
def test_a_name_that_breaks_the_naming_rules_is_skipped(provider: Provider, name: str) -> None:
    made = spec_document(job(provider, "j1", name))
    assert isinstance(made, SkippedJob)
    assert f"`{name}` is not a valid {provider} spec name" in made.reason


@pytest.mark.parametrize(
    ("job_id", "expected"),
    [
        ("ftjob-abc123", "qubrid-ftjob-abc123"),
        ("FTJOB_ABC.123", "qubrid-ftjob-abc-123"),
        ("--x--", "qubrid-x"),
        ("9" * 60, "qubrid-" + "9" * 42),
    ],
)
def test_derived_qubrid_names_follow_the_naming_rules(job_id: str, expected: str) -> None:
    assert derived_qubrid_name(job_id) == expected


# --- selection ------------------------------------------------------------------------------


def test_the_newest_live_job_of_a_name_is_imported_and_the_others_are_said() -> None:
    old = job("cohere", "m-old", "chat", created_at=T0)
    new = job("cohere", "m-new", "chat", created_at=T0 + timedelta(days=1))
    gone = job(
        "cohere", "m-gone", "chat", created_at=T0 + timedelta(days=2), raw_status=GONE["cohere"]
    )
    selection = select_jobs(ProviderObservation("cohere", jobs=(old, gone, new)), None)
    assert [s.remote_id for s in selection.specs] == ["m-new"]
    reasons = {s.remote_id: s.reason for s in selection.skipped}
    assert set(reasons) == {"m-old", "m-gone"}
    assert "older job" in reasons["m-old"] and "(m-new)" in reasons["m-old"]
    assert "cancelled" in reasons["m-gone"]


def test_a_name_with_only_deleted_jobs_writes_nothing() -> None:
    gone = job("qubrid", "ftjob-1", None, raw_status=GONE["qubrid"])
    selection = select_jobs(ProviderObservation("qubrid", jobs=(gone,)), None)
    assert selection.specs == ()
    assert [(s.remote_id, s.name) for s in selection.skipped] == [("ftjob-1", "qubrid-ftjob-1")]


def test_a_marked_qubrid_dataset_names_the_job() -> None:
    marked = RemoteDataset(
        "qubrid",
        "ds-1",
        "support-qa-rc0123456789ab.csv",
        parse_qubrid_dataset_name("support-qa-rc0123456789ab.csv"),
    )
    observation = ProviderObservation(
        "qubrid",
        jobs=(job("qubrid", "ftjob-1", None, dataset_ref="ds-1"),),
        datasets=(marked,),
    )
    selection = select_jobs(observation, None)
    assert [(s.name, s.document["dataset"]) for s in selection.specs] == [
        ("support-qa", {"id": "ds-1"})
    ]


def test_unmarked_qubrid_jobs_sharing_a_dataset_are_one_name_after_the_newest() -> None:
    jobs = (
        job("qubrid", "ftjob-a", None, dataset_ref="ds-shared", created_at=T0),
        job("qubrid", "ftjob-b", None, dataset_ref="ds-shared", created_at=T0 + timedelta(1)),
        job("qubrid", "ftjob-c", None, dataset_ref="ds-own", created_at=T0),
        job("qubrid", "ftjob-d", None, dataset_ref=None, created_at=T0),
        job("qubrid", "ftjob-e", None, dataset_ref="ds-retried", created_at=T0),
        job(
            "qubrid",
            "ftjob-f",
            None,
            dataset_ref="ds-retried",
            created_at=T0 + timedelta(1),
            raw_status=GONE["qubrid"],
        ),
    )
    selection = select_jobs(ProviderObservation("qubrid", jobs=jobs), None)
    assert sorted((s.name, s.remote_id) for s in selection.specs) == [
        ("qubrid-ftjob-b", "ftjob-b"),
        ("qubrid-ftjob-c", "ftjob-c"),
        ("qubrid-ftjob-e", "ftjob-e"),  # named after the live job, not the newer cancelled one
    ]
    reasons = {s.remote_id: s.reason for s in selection.skipped}
    assert set(reasons) == {"ftjob-a", "ftjob-d", "ftjob-f"}
    assert "no dataset id" in reasons["ftjob-d"]


def test_match_keeps_matching_names_and_counts_the_rest() -> None:
    jobs = tuple(
        job("segmind", f"j{n}", name) for n, name in enumerate(["fox-v1", "fox-v2", "owl"])
    )
    selection = select_jobs(ProviderObservation("segmind", jobs=jobs), re.compile(r"^fox-"))
    assert [s.name for s in selection.specs] == ["fox-v1", "fox-v2"]
    assert selection.unmatched == 1
    assert selection.skipped == ()


def test_jobs_the_repository_already_names_are_counted_not_imported(repo: Path) -> None:
    (repo / "specs").mkdir()
    (repo / "specs" / "owned.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: FineTune\nname: mine\nprovider: qubrid\n"
        "base_model: Qwen/Qwen2.5-7B-Instruct\ndataset: {id: ds-mine}\ntask_type: qa\n"
    )
    managed = load_specs([repo / "specs"])
    jobs = (
        job("qubrid", "ftjob-1", None, dataset_ref="ds-mine", created_at=T0),
        job("qubrid", "ftjob-2", None, dataset_ref="ds-mine", created_at=T0 + timedelta(1)),
        job("qubrid", "ftjob-3", None, dataset_ref="ds-other"),
    )
    selection = select_jobs(ProviderObservation("qubrid", jobs=jobs), None, managed)
    assert [s.remote_id for s in selection.specs] == ["ftjob-3"]
    assert selection.managed == 2
    assert selection.skipped == ()
    # Specs of another provider do not count.
    other = select_jobs(
        ProviderObservation("cohere", jobs=(job("cohere", "m", "mine"),)), None, managed
    )
    assert [s.name for s in other.specs] == ["mine"]


# --- rendering, checking, writing -----------------------------------------------------------


def test_the_modeline_points_at_the_schema_from_the_out_dir(repo: Path) -> None:
    assert schema_modeline(repo / "specs" / "imported", repo) == (
        "# yaml-language-server: $schema=../../schemas/finetune.schema.json"
    )
    assert schema_modeline(repo, repo) == (
        "# yaml-language-server: $schema=schemas/finetune.schema.json"
    )


def test_without_a_copy_of_the_schema_the_modeline_points_at_its_published_address(
    tmp_path: Path,
) -> None:
    # A user's repository that never ran `reconcile schema --out schemas/...`.
    assert schema_modeline(tmp_path / "specs", tmp_path) == (
        "# yaml-language-server: $schema=https://raw.githubusercontent.com/OWNER/reconcile/"
        f"v{__version__}/schemas/finetune.schema.json"
    )


def test_the_text_starts_with_the_modeline_and_keeps_the_field_order() -> None:
    made = spec_document(job("segmind", "j1", "fox", base_model="QWEN", theme=None))
    assert isinstance(made, ImportedSpec)
    text = render_spec(made, "# yaml-language-server: $schema=x.json")
    lines = text.splitlines()
    assert lines[0] == "# yaml-language-server: $schema=x.json"
    assert lines[1].startswith("# Imported by `reconcile import` from segmind job j1")
    assert any(line.startswith("# trigger_word:") for line in lines)
    keys = [line.split(":")[0] for line in lines if line[:1].isalpha()]
    assert keys == [
        "apiVersion",
        "kind",
        "name",
        "provider",
        "adopt",
        "base_model",
        "dataset",
        "access",
        "trigger_word",
        "instance_prompt",
        "train_type",
        "parameters",
    ]


def test_a_line_break_from_the_provider_cannot_leave_the_header_comment() -> None:
    made = spec_document(job("cohere", "m1\nevil: true", "chat-v1", raw_status="READY\r\nx: 1"))
    assert isinstance(made, ImportedSpec)
    documents, problems = parse_yaml_text(render_spec(made, "# m"), "x.yaml")
    assert problems == []
    assert documents[0].value == dict(made.document)


@given(
    st.one_of(
        st.text(min_size=1, max_size=30),
        st.sampled_from(
            [
                "1e5",
                "1E-5",
                "+2e3",
                "yes",
                "no",
                "on",
                "null",
                "~",
                "0x1f",
                "1_000",
                "0o17",
                "-.inf",
            ]
        ),
    )
)
def test_any_text_reads_back_as_the_same_text(value: str) -> None:
    made = ImportedSpec(
        "qubrid", "n", "r", "completed", {"base_model": value, "dataset": {"id": value}}
    )
    documents, problems = parse_yaml_text(render_spec(made, "# m"), "x.yaml")
    assert problems == []
    assert documents[0].value == {"base_model": value, "dataset": {"id": value}}


def test_prepare_leaves_out_an_unknown_parameter_and_says_so(repo: Path) -> None:
    made = spec_document(
        job("segmind", "j1", "fox", parameters={"iterations": 300, "steps": 5, "prompt": "p"})
    )
    assert isinstance(made, ImportedSpec)
    files, skipped = prepare_files([made], repo / "specs", load_settings(repo))
    assert skipped == []
    assert files[0].spec.document["parameters"] == {"iterations": 300}
    assert any(note.startswith("parameters.steps: left out") for note in files[0].spec.notes)
    assert "# parameters.steps: left out" in files[0].text


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"base_model": "SDXL"}, "base_model"),
        ({"dataset_ref": "http://127.0.0.1:9/uploads/fox.zip"}, "https://"),
    ],
)
def test_a_job_that_cannot_be_a_valid_spec_is_skipped_with_the_reason(
    repo: Path, fields: dict[str, Any], expected: str
) -> None:
    made = spec_document(job("segmind", "j1", "fox", **fields))
    assert isinstance(made, ImportedSpec)
    files, skipped = prepare_files([made], repo / "specs", load_settings(repo))
    assert files == []
    assert len(skipped) == 1
    assert "cannot be written as a valid spec" in skipped[0].reason
    assert expected in skipped[0].reason


def _spec_files(repo: Path, *made: ImportedSpec | SkippedJob) -> list[SpecFile]:
    specs = [m for m in made if isinstance(m, ImportedSpec)]
    files, skipped = prepare_files(specs, repo / "specs" / "imported", load_settings(repo))
    assert skipped == []
    return files


def test_writing_refuses_when_any_target_exists_and_writes_none(repo: Path) -> None:
    files = _spec_files(
        repo, spec_document(job("cohere", "m1", "a")), spec_document(job("cohere", "m2", "b"))
    )
    (repo / "specs" / "imported").mkdir(parents=True)
    (repo / "specs" / "imported" / "b.yaml").write_text("mine\n")
    with pytest.raises(
        ImportRefusedError, match=r"refusing to overwrite 1 existing file .*b\.yaml"
    ):
        write_files(files)
    assert not (repo / "specs" / "imported" / "a.yaml").exists()
    assert (repo / "specs" / "imported" / "b.yaml").read_text() == "mine\n"


def test_writing_creates_the_out_dir(repo: Path) -> None:
    files = _spec_files(repo, spec_document(job("cohere", "m1", "a")))
    write_files(files)
    assert (repo / "specs" / "imported" / "a.yaml").read_text() == files[0].text


def test_a_folder_that_cannot_be_made_is_an_error_not_a_traceback(repo: Path) -> None:
    files = _spec_files(repo, spec_document(job("cohere", "m1", "a")))
    (repo / "specs").write_text("a file where the folder should be\n")
    with pytest.raises(ImportRefusedError, match=r"a\.yaml: cannot write"):
        write_files(files)


def test_the_report_has_a_line_per_file_and_skip_and_a_summary(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    made = spec_document(job("segmind", "j1", "fox", base_model="QWEN", theme=None))
    files = _spec_files(repo, made)
    skipped = SkippedJob("segmind", "j2", "Bad Name", "its name is not valid")
    report = ImportReport(
        "segmind", Path("specs/imported"), tuple(files), (skipped,), 2, managed=3, match="^f"
    )
    assert render_report(report).splitlines() == [
        "wrote specs/imported/fox.yaml (segmind job j1, AVAILABLE; review the placeholder"
        " trigger_word)",
        "skipped segmind job j2 (Bad Name): its name is not valid",
        "Imported 1 segmind job into specs/imported; skipped 1; 3 already managed by the"
        " repository's specs; 2 did not match --match '^f'.",
        "Next: `reconcile plan specs/imported` should show no changes for them.",
    ]


# --- the round trip: written spec -> loader -> diff: in sync ---------------------------------


@pytest.mark.parametrize(
    "remote",
    [
        job("segmind", "s1", "pro-v1"),
        job(
            "segmind",
            "s2",
            "qwen-v1",
            base_model="QWEN",
            theme="QWEN",
            access="public",
            parameters={"steps": 1000, "learning_rate": 0.0004, "prompt": "photo of TOK"},
        ),
        job(
            "segmind",
            "s3",
            "flux-v1",
            base_model="FLUX",
            theme=None,
            parameters={"learning_rate": 1e-05, "lr_scheduler": "constant"},
            dataset_ref="https://x.example.com/a/f-flux-v1-rc0123456789ab.zip?X-Amz-Signature=s",
        ),
        job("qubrid", "q1", "qa-v1", parameters={"learning_rate": 2e-05, "validation_split": 0.1}),
        job("cohere", "c1", "chat-v1", base_model="command-r", wandb={"project": "p"}),
        job("cohere", "c2", "labels-v1", base_type="BASE_TYPE_CLASSIFICATION", parameters=None),
    ],
    ids=lambda j: f"{j.provider}-{j.name}",
)
def test_an_imported_spec_is_in_sync_with_its_job(repo: Path, remote: ObservedJob) -> None:
    files = _spec_files(repo, spec_document(remote))
    write_files(files)
    specs = load_specs([repo / "specs"])
    assert [s.name for s in specs] == [remote.name]
    observation = ProviderObservation(remote.provider, jobs=(remote,))
    result = plan(desired_jobs(specs, None), ObservedState.of(observation), PlanOptions())
    assert [(c.action, c.field_changes) for c in result.changes] == [(Action.NOOP, ())]


def test_an_imported_spec_still_sees_a_later_change(repo: Path) -> None:
    """The round trip is not vacuous: the same spec against a job whose access flipped."""
    remote = job("segmind", "s1", "pro-v1")
    write_files(_spec_files(repo, spec_document(remote)))
    specs = load_specs([repo / "specs"])
    flipped = ObservedJob(**{**remote.__dict__, "access": "public"})
    observation = ProviderObservation("segmind", jobs=(flipped,))
    result = plan(desired_jobs(specs, None), ObservedState.of(observation), PlanOptions())
    assert [c.action for c in result.changes] == [Action.UPDATE]


# --- owners -------------------------------------------------------------------------------


def test_a_job_without_an_owner_is_adopted_and_another_repositorys_is_never_imported() -> None:
    jobs = (
        job("cohere", "m-legacy", "legacy"),
        replace(job("cohere", "m-theirs", "theirs"), owner="other"),
        replace(job("cohere", "m-mine", "restored"), owner="team"),
    )
    selection = select_jobs(ProviderObservation("cohere", jobs=jobs), None, (), "team")
    documents = {s.name: dict(s.document) for s in selection.specs}
    assert set(documents) == {"legacy", "restored"}
    assert documents["legacy"]["adopt"] == ["m-legacy"]
    # Its own job (whose spec was removed) pairs by the owner id in its name: no adoption.
    assert "adopt" not in documents["restored"]
    (skipped,) = selection.skipped
    assert skipped.remote_id == "m-theirs"
    assert "owner id `other` of another repository" in skipped.reason


def test_a_spec_of_the_name_that_does_not_adopt_the_job_is_told_how(repo: Path) -> None:
    (repo / "specs").mkdir()
    (repo / "specs" / "chat.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: FineTune\nname: chat\nprovider: cohere\n"
        "base_model: {base_type: BASE_TYPE_CHAT}\ndataset: {id: other-data-abc123}\n"
    )
    managed = load_specs([repo / "specs"])
    jobs = (job("cohere", "m-1", "chat"),)
    selection = select_jobs(ProviderObservation("cohere", jobs=jobs), None, managed, "team")
    assert selection.specs == () and selection.managed == 0
    (skipped,) = selection.skipped
    assert "add `adopt: [m-1]` to that spec" in skipped.reason
