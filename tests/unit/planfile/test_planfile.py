"""The plan file: written whole and read back equal; plan files of the previous version read as
the plans they were; unknown keys ignored and missing optional keys defaulted at every level;
versions this reconcile does not read refused with what to do; and a plan read from a file still
refused as stale once the world has moved.

``tests/golden/planfiles/`` holds plan files written by the previous version (see its README):
they are never regenerated.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.converge import StalePlanError, check_not_stale
from reconciler.core.action import Action
from reconciler.core.marker import Marker
from reconciler.core.observed import (
    Health,
    ObservedJob,
    ObservedState,
    ProviderObservation,
    RemoteDataset,
)
from reconciler.core.plan import (
    Blocker,
    BlockKind,
    Change,
    DeleteMethod,
    FieldChange,
    Guardrails,
    IncompleteProvider,
    Plan,
    PlanOptions,
    PlanOrigin,
    Upload,
)
from reconciler.core.spec import (
    DatasetKind,
    DatasetRef,
    DesiredJob,
    FineTuneSpec,
    Lifecycle,
    SourceLocation,
)
from reconciler.diff import plan
from reconciler.planfile import (
    PLAN_FORMAT_VERSION,
    PlanFileError,
    desired_job_to_dict,
    marker_to_dict,
    observed_job_to_dict,
    options_to_dict,
    plan_from_dict,
    plan_from_json,
    plan_to_dict,
    plan_to_json,
    remote_dataset_to_dict,
    spec_to_dict,
)
from tests.support.diff_builders import desired, job, observed, options, spec
from tests.support.paths import GOLDEN
from tests.support.plans import representative_plan

PLANFILES = GOLDEN / "planfiles"


def every_kind_plan() -> Plan:
    """The representative plan, with what it lacks for a plan file to hold an object of every
    kind: a forgotten job and an incomplete provider (its specs not planned)."""
    base = representative_plan()
    return replace(
        base,
        options=replace(
            base.options,
            forget=frozenset({("segmind", "retired")}),
            targets=frozenset({"mascot-public"}),
            partial=True,
        ),
        made_for=PlanOrigin(
            sandbox=False,
            hosts=(("cohere", "api.cohere.com"), ("segmind", "127.0.0.1:8765")),
            paths=("specs/mascot.yaml",),
        ),
        not_targeted=(("qubrid", "support-qa"),),
        incomplete=(
            IncompleteProvider(
                "cohere", "HTTP 503 from the job list", not_planned=("support-chat-v1",)
            ),
            IncompleteProvider("qubrid", "Qubrid refuses fine-tuning", refused=True),
        ),
    )


# Every kind of JSON object in a plan file, by its path ("[]": each item of a list), and the
# value it is the form of (``None``: a pair, or derived and never read).
KINDS: dict[str, type | None] = {
    "plan": Plan,
    "summary": None,
    "options": PlanOptions,
    "options.guardrails": Guardrails,
    "options.forget[]": None,
    "made_for": PlanOrigin,
    "not_targeted[]": None,
    "incomplete[]": IncompleteProvider,
    "changes[]": Change,
    "changes[].field_changes[]": FieldChange,
    "changes[].desired": DesiredJob,
    "changes[].desired.spec": FineTuneSpec,
    "changes[].desired.spec.dataset": DatasetRef,
    "changes[].desired.spec.source": SourceLocation,
    "changes[].desired.spec.lifecycle": Lifecycle,
    "changes[].current": ObservedJob,
    "changes[].current.marker": Marker,
    "changes[].upload": Upload,
    "changes[].reuse": RemoteDataset,
    "changes[].reuse.marker": Marker,
    "changes[].blocked": Blocker,
    "unmanaged[]": ObservedJob,
    "unmanaged[].marker": Marker,
}


def objects_of(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The JSON objects of ``kind`` in ``document`` (``null`` ones left out)."""
    nodes = [document]
    if kind == "plan":
        return nodes
    for step in kind.split("."):
        key = step.removesuffix("[]")
        found: list[dict[str, Any]] = []
        for node in nodes:
            value = node.get(key)
            if value is not None:
                found.extend(value if step.endswith("[]") else [value])
        nodes = found
    return nodes


def has_default(field: dataclasses.Field[Any]) -> bool:
    return (
        field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    )


def keys_of(kind: str, *, optional: bool) -> list[tuple[str, str]]:
    value_type = KINDS[kind]
    if value_type is None:
        return []
    fields = dataclasses.fields(value_type)
    return [(kind, f.name) for f in fields if has_default(f) == optional]


# The written form of each value with every optional field at its default.
_SPEC = FineTuneSpec(
    name="x",
    provider="cohere",
    base_model="m",
    dataset=DatasetRef(DatasetKind.ID, "d"),
    source=SourceLocation(Path("s.yaml"), 1, 1),
)
_CHANGE = plan_to_dict(
    Plan(
        changes=(
            Change(Action.NOOP, "cohere", "x", "r", blocked=Blocker(BlockKind.GUARDRAIL, "r", "f")),
        ),
        unmanaged=(),
        options=PlanOptions(),
        snapshot="",
    )
)["changes"][0]
DEFAULT_FORMS: dict[type, dict[str, Any]] = {
    Plan: plan_to_dict(Plan(changes=(), unmanaged=(), options=PlanOptions(), snapshot="")),
    PlanOptions: options_to_dict(PlanOptions()),
    Guardrails: options_to_dict(PlanOptions())["guardrails"],
    Change: {**_CHANGE, "blocked": None},
    Blocker: _CHANGE["blocked"],
    DesiredJob: desired_job_to_dict(DesiredJob(_SPEC)),
    FineTuneSpec: spec_to_dict(_SPEC),
    Lifecycle: spec_to_dict(_SPEC)["lifecycle"],
    ObservedJob: observed_job_to_dict(ObservedJob("cohere", "j", None, "s", Health.HEALTHY)),
    Marker: marker_to_dict(Marker("x", "f")) or {},
    RemoteDataset: remote_dataset_to_dict(RemoteDataset("cohere", "d", "x")),
    IncompleteProvider: {"provider": "cohere", "error": "e", "refused": False, "not_planned": []},
    PlanOrigin: {"sandbox": False, "hosts": {}, "paths": []},
}


def without_summary(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "summary"}


# --- written and read back -----------------------------------------------------------------


def test_a_saved_plan_reads_back_equal() -> None:
    result = every_kind_plan()
    assert plan_from_json(plan_to_json(result)) == result


def test_json_keys_are_sorted_and_always_present() -> None:
    data = json.loads(plan_to_json(representative_plan()))
    assert list(data) == sorted(data)
    assert set(data) == {
        "changes",
        "format_version",
        "incomplete",
        "options",
        "snapshot",
        "summary",
        "unmanaged",
        "snapshot_items",
        "made_for",
        "not_targeted",
    }
    keys = {frozenset(change) for change in data["changes"]}
    assert len(keys) == 1


def test_a_refusing_provider_is_carried_once_and_read_back() -> None:
    refusal = "Cohere deprecated its fine-tuning API on 2025-09-15; move these specs"
    observation = ProviderObservation("cohere", complete=False, error="e", refused=refusal)
    result = plan(
        [desired(spec(name="a", provider="cohere")), desired(spec(name="b", provider="cohere"))],
        ObservedState.of(observation),
        options(),
    )
    text = plan_to_json(result)
    assert text.count(refusal) == 1
    assert json.loads(text)["incomplete"] == [
        {"provider": "cohere", "error": refusal, "refused": True, "not_planned": []}
    ]
    saved = plan_from_json(text)
    assert saved.incomplete == result.incomplete
    assert {c.blocked.kind for c in saved.changes if c.blocked} == {BlockKind.PROVIDER_REFUSED}


def test_an_incomplete_provider_written_before_refusals_existed_reads_as_not_refused() -> None:
    document = plan_to_dict(every_kind_plan())
    for entry in document["incomplete"]:
        del entry["refused"]
    saved = plan_from_dict(document)
    assert [(i.provider, i.refused) for i in saved.incomplete] == [
        ("cohere", False),
        ("qubrid", False),
    ]


# --- plan files of the previous version ----------------------------------------------------


def test_a_plan_file_of_the_previous_version_reads_as_the_plan_it_was() -> None:
    text = (PLANFILES / "main-9aea9b3-representative.json").read_text(encoding="utf-8")
    saved = plan_from_json(text)
    # Written before plans recorded their items, what they were made for and what they left
    # out: those read as unknown.
    assert saved.snapshot_items == () and saved.made_for is None and saved.not_targeted == ()
    assert saved == replace(representative_plan(), snapshot_items=())
    assert saved.snapshot == json.loads(text)["snapshot"]


def test_a_plan_file_of_the_previous_version_from_a_real_run_reads_back_whole() -> None:
    text = (PLANFILES / "main-9aea9b3-sandbox.json").read_text(encoding="utf-8")
    saved = plan_from_json(text)
    old = json.loads(text)
    rewritten = json.loads(plan_to_json(saved))
    # Nothing lost, nothing changed; the keys added since are written at their defaults (a
    # job's outputs among them, which that version did not read).
    for node in objects_of(rewritten, "changes[].current"):
        assert node.pop("outputs") is None
    added: dict[str, Any] = {"snapshot_items": {}, "made_for": None, "not_targeted": []}
    assert rewritten == {**old, **added, "options": rewritten["options"]}
    assert rewritten["options"] == {**old["options"], "targets": [], "partial": False}
    assert saved.options == PlanOptions(owner="example", prune=True)
    assert saved.unmanaged == () and saved.incomplete == ()
    decided = {
        (c.provider, c.name): (c.action, c.blocked.kind if c.blocked else None)
        for c in saved.changes
    }
    assert decided == {
        ("cohere", "support-chat-v1"): (Action.NOOP, None),
        ("cohere", "ticket-labels-v1"): (Action.NOOP, None),
        ("qubrid", "release-notes-v1"): (Action.DELETE, None),
        ("qubrid", "support-qa-v1"): (Action.NOOP, None),
        ("segmind", "mascot-fast-flux-v1"): (Action.NOOP, None),
        ("segmind", "mascot-fast-flux-v2"): (Action.CREATE, None),
        ("segmind", "mascot-flux-dev-v1"): (Action.REPLACE, BlockKind.NEEDS_ALLOW_REPLACE),
        ("segmind", "mascot-flux-pro-v1"): (Action.NOOP, None),
        ("segmind", "mascot-qwen-v1"): (Action.UPDATE, None),
    }
    by_name = {c.name: c for c in saved.changes}
    cancel = by_name["release-notes-v1"]
    assert (cancel.delete_method, cancel.target_id) == (
        DeleteMethod.CANCEL_JOB,
        "ftjob-58ea080ca5a34ff6a53ebc3d",
    )
    flip = by_name["mascot-qwen-v1"]
    assert flip.desired is not None and flip.desired.spec.access == "public"
    assert flip.current is not None and flip.target_id == flip.current.remote_id
    assert flip.field_changes == (FieldChange("access", "private", "public"),)
    upload = by_name["mascot-fast-flux-v2"].upload
    assert upload is not None
    assert upload.remote_name == "example--mascot-fast-flux-v2-rcdf2ad3e5e57b.zip"
    assert saved.summary.has_changes and saved.summary.blocked == 1


# --- tolerant reading ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_key_this_version_does_not_know_is_ignored_at_every_level(kind: str) -> None:
    result = every_kind_plan()
    document = plan_to_dict(result)
    found = objects_of(document, kind)
    assert found, f"the plan holds no {kind}"
    for node in found:
        node["added_by_a_newer_reconcile"] = {"any": ["value", 1, None]}
    assert plan_from_dict(json.loads(json.dumps(document))) == result


@pytest.mark.parametrize(
    ("kind", "key"), [pair for kind in KINDS for pair in keys_of(kind, optional=True)]
)
def test_a_missing_optional_key_takes_its_default(kind: str, key: str) -> None:
    document = plan_to_dict(every_kind_plan())
    value_type = KINDS[kind]
    assert value_type is not None
    default = DEFAULT_FORMS[value_type][key]
    older, expected = copy.deepcopy(document), copy.deepcopy(document)
    assert objects_of(older, kind), f"the plan holds no {kind}"
    for node in objects_of(older, kind):
        del node[key]
    for node in objects_of(expected, kind):
        node[key] = default
    assert without_summary(plan_to_dict(plan_from_dict(older))) == without_summary(expected)


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        *(pair for kind in KINDS for pair in keys_of(kind, optional=False)),
        ("plan", "format_version"),
        ("options.forget[]", "provider"),
        ("options.forget[]", "name"),
    ],
)
def test_a_missing_required_key_is_refused_by_name(kind: str, key: str) -> None:
    document = plan_to_dict(every_kind_plan())
    del objects_of(document, kind)[0][key]
    with pytest.raises(PlanFileError, match=f"'{key}' is missing|no `{key}`"):
        plan_from_dict(document)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "holds no JSON object"),
        ("{}", "not a plan file: it has no `format_version`"),
        (
            f'{{"format_version": {PLAN_FORMAT_VERSION + 1}}}',
            rf"plan format version {PLAN_FORMAT_VERSION + 1} is not supported \(this reconcile"
            rf" reads version {PLAN_FORMAT_VERSION}\); it was written by a newer reconcile:"
            " upgrade reconcile",
        ),
        ('{"format_version": 3}', "plan format version 3 is not supported"),
        ('{"format_version": 1}', r"plan format version 1 is not supported \(this reconcile reads"),
        ('{"format_version": "2"}', "plan format version '2' is not supported"),
        ('{"format_version": 2}', "not a plan file of format version 2"),
    ],
)
def test_a_bad_plan_file_is_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(PlanFileError, match=message):
        plan_from_json(text)


def test_a_tampered_plan_file_is_refused() -> None:
    data = json.loads(plan_to_json(representative_plan()))
    data["changes"][0]["action"] = "explode"
    with pytest.raises(PlanFileError, match="explode"):
        plan_from_json(json.dumps(data))


# --- stale plans ---------------------------------------------------------------------------


def test_a_plan_read_from_its_file_is_refused_once_the_world_moves() -> None:
    wanted = [desired(spec("mascot", access="private"))]
    seen = observed(job("mascot", remote_id="seg-1", access="private"))
    saved = plan_from_json(plan_to_json(plan(wanted, seen, options(prune=True))))
    check_not_stale(saved, wanted, seen)
    moved = observed(job("mascot", remote_id="seg-1", access="public"))
    with pytest.raises(StalePlanError, match="stale"):
        check_not_stale(saved, wanted, moved)


def test_a_key_missing_from_a_plan_file_cannot_pass_for_the_plan_that_was_reviewed() -> None:
    wanted = [desired(spec("mascot"))]
    seen = observed(job("mascot", remote_id="seg-1"))
    document = plan_to_dict(plan(wanted, seen, options(prune=True)))
    del document["options"]["owner"]  # read as None: not the options the snapshot was made with
    saved = plan_from_dict(document)
    assert saved.options.owner is None
    with pytest.raises(StalePlanError, match="stale"):
        check_not_stale(saved, wanted, seen)
