"""The outputs of finished jobs remembered across runs (``reconciler.outputs_cache``): what is
remembered is recalled, and an entry this reconcile cannot read is left out (read again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.observed import JobOutputs
from reconciler.datasets import stat_cache
from reconciler.outputs import OutputsKey
from reconciler.outputs_cache import recall_outputs, remember_outputs

PURPOSE = b"reconcile outputs of finished jobs, version 1"


@pytest.fixture(autouse=True)
def _own_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def test_remembered_outputs_are_recalled(tmp_path: Path) -> None:
    file = tmp_path / "outputs.json"
    outputs: dict[OutputsKey, JobOutputs] = {
        ("segmind", "seg-1"): JobOutputs(weights_url="https://weights.example/a", slug="a"),
        ("cohere", "c-1"): JobOutputs(model_id="c-1-ft"),
    }
    remember_outputs(file, outputs)
    assert recall_outputs(file) == outputs


def test_an_entry_that_cannot_be_read_is_left_out(tmp_path: Path) -> None:
    file = tmp_path / "outputs.json"
    good = {"provider": "qubrid", "remote_id": "q-1", "model_id": "m", "weights_url": None}
    entries = [
        good,
        {"provider": "nobody", "remote_id": "x-1"},
        {"provider": "segmind", "remote_id": 7},
        {"provider": "segmind", "remote_id": "seg-2", "slug": 3},
        {"remote_id": "seg-3"},
        ["segmind", "seg-4"],
        None,
        "segmind seg-5",
    ]
    sealed = stat_cache.seal(PURPOSE, json.dumps(entries).encode())
    assert sealed is not None
    file.write_bytes(sealed)
    assert recall_outputs(file) == {("qubrid", "q-1"): JobOutputs(model_id="m")}
