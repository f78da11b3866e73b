"""``ObservedJob``'s own ``__init__`` (see its docstring) against the dataclass it stands in for."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from reconciler.core.marker import Marker
from reconciler.core.observed import Health, ObservedJob


def listed(**fields: object) -> ObservedJob:
    return ObservedJob(
        **{"provider": "segmind", "remote_id": "r1", "name": "fox", "raw_status": "x", **fields},  # type: ignore[arg-type]
        health=Health.HEALTHY,
    )


def test_its_parameters_are_the_fields_in_order_with_their_defaults() -> None:
    parameters = list(inspect.signature(ObservedJob.__init__).parameters.values())[1:]
    fields = dataclasses.fields(ObservedJob)
    assert [p.name for p in parameters] == [f.name for f in fields]
    for parameter, field in zip(parameters, fields, strict=True):
        expected = (
            inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        )
        assert parameter.default == expected, field.name
        assert field.default_factory is dataclasses.MISSING  # the __init__ has no factories


def test_it_is_still_a_frozen_value_with_every_field_set() -> None:
    job = listed(sequence=3, marker=Marker("fox", "abc123abc123"))
    assert {f.name: getattr(job, f.name) for f in dataclasses.fields(job)}["sequence"] == 3
    assert job == listed(sequence=3, marker=Marker("fox", "abc123abc123"))
    assert hash(job) == hash(listed(sequence=3, marker=Marker("fox", "abc123abc123")))
    assert job != listed(sequence=4, marker=Marker("fox", "abc123abc123"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.name = "other"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(job)) == job
    assert dataclasses.replace(job, name="wolf").name == "wolf"


def test_signatures_and_keys_never_get_in_also_through_replace() -> None:
    job = listed(
        dataset_ref="https://x.test/a.zip?X-Amz-Signature=SECRET#frag",
        wandb={"project": "p", "entity": "e", "api_key": "SECRET"},
    )
    assert job.dataset_ref == "https://x.test/a.zip"
    assert job.wandb == {"project": "p", "entity": "e"}
    again = dataclasses.replace(job, dataset_ref="https://x.test/b.zip?sig=SECRET")
    assert again.dataset_ref == "https://x.test/b.zip"
    assert "SECRET" not in repr(again)
