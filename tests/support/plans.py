"""A plan with one of everything, shared by the view and plan-file tests."""

from __future__ import annotations

from reconciler.core.observed import RemoteDataset
from reconciler.core.plan import Plan
from reconciler.core.spec import DatasetKind, DatasetRef
from reconciler.diff import plan
from reconciler.naming import marker_for
from tests.support.diff_builders import (
    FP_A,
    FP_B,
    OWNER,
    desired,
    job,
    observed,
    options,
    qubrid_dataset,
    spec,
)


def representative_plan() -> Plan:
    """One of everything: each action, blocked and not, uploads and reuse, health, strangers,
    another repository's job and a job without an owner that blocks a create."""
    reused = marker_for("support-bot", FP_A, OWNER)
    specs = [
        desired(spec("mascot-flux-pro-v1", access="private"), size=12_345_678),
        desired(spec("mascot-public", access="public")),
        desired(spec("mascot-retrained", parameters={"iterations": 500})),
        desired(spec("mascot-steady")),
        desired(spec("mascot-broken")),
        desired(spec("mascot-legacy")),
        desired(spec("support-bot", "qubrid", parameters={"epochs": 3})),
        desired(
            spec(
                "ticket-router",
                "cohere",
                dataset=DatasetRef(DatasetKind.ID, "ticket-labels-d701tr"),
                parameters={"train_epochs": 2},
            )
        ),
    ]
    remote = [
        job("mascot-public", access="private", remote_id="seg-2"),
        job("mascot-retrained", remote_id="seg-3", parameters={"iterations": 300}),
        job("mascot-steady", remote_id="seg-4", status="TRAINING_INITIATED"),
        job(
            "mascot-broken",
            remote_id="seg-5",
            status="FAILED",
            error_message="Looks like empty dataset. Please do not create subfolders",
        ),
        job("old-mascot", remote_id="seg-9", fingerprint=FP_B),
        job(
            "hand-made | pipes",
            remote_id="seg-10",
            fingerprint=None,
            dataset_ref="https://x.test/a.zip?X-Amz-Signature=SECRET",
            owner=None,
        ),
        job("mascot-legacy", remote_id="seg-11", owner=None, fingerprint=None),
        job("mascot-flux-pro-v1", remote_id="seg-12", owner="other"),
        job("old-bot", "qubrid", remote_id="q-7", status="running"),
        job(None, "qubrid", remote_id="q-8", dataset_ref="ds-foreign", status="completed"),
        job(
            "ticket-router",
            "cohere",
            remote_id="co-1",
            status="STATUS_FINETUNING",
            dataset_ref="ticket-labels-d701tr",
            parameters={"train_epochs": 2.0},
        ),
    ]
    datasets = [
        RemoteDataset("qubrid", "ds-reuse", f"{reused}.csv", reused, size_bytes=2048),
        qubrid_dataset("old-bot", FP_A),
        RemoteDataset("qubrid", "ds-foreign", "theirs.csv"),
    ]
    return plan(specs, observed(*remote, datasets=datasets), options(prune=True))
