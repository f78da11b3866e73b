"""The engine's composition: desired jobs from specs, parallel observation, stale plans, the
apply lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.apply.converge import StalePlanError, check_not_stale
from reconciler.apply.writer import WriterUnavailableError, hold_writer
from reconciler.config import Secret, Settings, covers_spec_paths, load_settings
from reconciler.core.action import Action
from reconciler.core.diagnostics import InvalidInputError
from reconciler.core.observed import Health, ObservedJob, ProviderObservation
from reconciler.core.plan import PlanOptions
from reconciler.core.spec import DatasetKind, DatasetRef, FineTuneSpec, Provider, SourceLocation
from reconciler.datasets.archive import zip_size
from reconciler.datasets.fingerprint import fingerprint_dataset
from reconciler.observing import observe_all, providers_to_observe
from reconciler.planning import make_plan
from reconciler.providers.base import AuthenticationError, ProviderClient
from reconciler.specs.desired import desired_jobs, load_desired
from tests.support.paths import REPO
from tests.support.repos import mark_repository


def copy_examples(root: Path) -> None:
    import shutil

    shutil.copytree(REPO / "specs", root / "specs")
    shutil.copytree(REPO / "datasets", root / "datasets")
    mark_repository(root)


def local_spec(name: str, path: Path, provider: Provider = "qubrid") -> FineTuneSpec:
    kind = DatasetKind.FOLDER if path.is_dir() else DatasetKind.FILE
    return FineTuneSpec(
        name=name,
        provider=provider,
        base_model="m",
        dataset=DatasetRef(kind, str(path)),
        source=SourceLocation(path.parent / "spec.yaml", 3, 1),
    )


def test_desired_jobs_carry_fingerprint_and_upload_size(tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("question,answer\nq,a\n")
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "one.png").write_bytes(b"\x89PNG" + b"0" * 100)
    url = replace(
        local_spec("by-url", csv, "segmind"), dataset=DatasetRef(DatasetKind.URL, "https://x/y.zip")
    )
    jobs = desired_jobs(
        [local_spec("a", csv), local_spec("b", folder, "segmind"), url], tmp_path / ".reconcile"
    )
    assert jobs[0].dataset_fingerprint == fingerprint_dataset(csv).sha256
    assert jobs[0].upload_size == csv.stat().st_size
    assert jobs[1].dataset_fingerprint == fingerprint_dataset(folder).sha256
    assert jobs[1].upload_size == zip_size(folder)
    assert (jobs[2].dataset_fingerprint, jobs[2].upload_size) == (None, None)
    assert list((tmp_path / ".reconcile" / "fingerprints").iterdir())


def test_an_unreadable_dataset_is_an_input_problem_of_its_spec(tmp_path: Path) -> None:
    missing = tmp_path / "gone.csv"
    with pytest.raises(InvalidInputError) as caught:
        desired_jobs([local_spec("a", missing)], None)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.field) == (3, "dataset")
    assert "gone.csv" in diagnostic.message


def test_load_desired_reads_the_example_specs(tmp_path: Path) -> None:
    copy_examples(tmp_path)
    settings = load_settings(tmp_path, environ={})
    jobs = load_desired(settings, [tmp_path / "specs"])
    assert len(jobs) == len(list((tmp_path / "specs").glob("*.yaml")))
    assert all(j.dataset_fingerprint for j in jobs if j.spec.dataset.is_local)


def test_providers_to_observe_are_those_named_or_keyed(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={"COHERE_API_KEY": "k" * 10})
    csv = tmp_path / "a.csv"
    csv.write_text("question,answer\nq,a\n")
    jobs = desired_jobs([local_spec("a", csv, "qubrid")], None)
    assert providers_to_observe(settings, jobs) == ["qubrid", "cohere"]
    assert providers_to_observe(with_key(settings, "cohere", None), []) == []
    keyed = with_key(settings, "segmind", Secret("s" * 10))
    assert providers_to_observe(keyed, []) == ["segmind", "cohere"]


def with_key(settings: Settings, provider: Provider, key: Secret | None) -> Settings:
    own = replace(settings.providers[provider], api_key=key)
    return replace(settings, providers={**settings.providers, provider: own})


class SlowObserver:
    def __init__(self, name: Provider, *, fail: bool = False) -> None:
        self.name: Provider = name
        self.fail = fail
        self.thread = ""

    def observe(self) -> ProviderObservation:
        self.thread = threading.current_thread().name
        time.sleep(0.2)
        if self.fail:
            raise AuthenticationError(self.name, "Invalid API key", status=401)
        job = ObservedJob(self.name, "r1", "job", "QUEUED", Health.PENDING)
        return ProviderObservation(self.name, jobs=(job,))

    def close(self) -> None:
        return None


def test_observe_all_runs_providers_at_once_and_turns_errors_into_incomplete() -> None:
    observers = [SlowObserver("segmind"), SlowObserver("qubrid", fail=True), SlowObserver("cohere")]
    clients: dict[Provider, ProviderClient] = {o.name: o for o in observers}  # type: ignore[misc]
    started = time.monotonic()
    state = observe_all(clients)
    assert time.monotonic() - started < 0.5  # three 0.2 s lists, together
    assert state.providers["segmind"].complete
    assert not state.providers["qubrid"].complete
    assert state.providers["qubrid"].error == "qubrid: Invalid API key (HTTP 401)"
    assert len({o.thread for o in observers}) == 3


def test_a_plan_is_stale_once_the_remote_or_the_specs_move(tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("question,answer\nq,a\n")
    settings = load_settings(tmp_path, environ={})
    jobs = desired_jobs([local_spec("a", csv, "segmind")], None)
    observer = SlowObserver("segmind")
    clients: dict[Provider, ProviderClient] = {"segmind": observer}  # type: ignore[dict-item]
    made = make_plan(settings, jobs, clients, PlanOptions())
    assert [c.action for c in made.plan.changes] == [Action.CREATE]
    check_not_stale(made.plan, jobs, observe_all(clients))

    observer.fail = True  # the remote can no longer be read: not the world the plan saw
    with pytest.raises(StalePlanError, match="plan --out"):
        check_not_stale(made.plan, jobs, observe_all(clients))
    observer.fail = False

    csv.write_text("question,answer\nq,b\n")
    changed = desired_jobs([local_spec("a", csv, "segmind")], None)
    with pytest.raises(StalePlanError, match="stale"):
        check_not_stale(made.plan, changed, observe_all(clients))


def test_the_writer_lease_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    mark_repository(tmp_path)
    settings = load_settings(tmp_path, environ={})
    state = tmp_path / ".reconcile"
    with (
        hold_writer(settings, state, wait=0, command="reconcile first"),
        pytest.raises(WriterUnavailableError, match=f"`reconcile first` \\(process {os.getpid()}"),
        hold_writer(settings, state, wait=0, command="reconcile second"),
    ):
        pass
    with hold_writer(settings, state, wait=0):  # released: free again
        pass


def test_the_lease_of_a_killed_holder_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    mark_repository(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from reconciler.config import load_settings\n"
            "from reconciler.apply.writer import hold_writer\n"
            "root = Path(sys.argv[1])\n"
            "with hold_writer(load_settings(root, environ={}), root / '.reconcile', wait=0):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    settings = load_settings(tmp_path, environ={})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(WriterUnavailableError, match=f"process {holder.pid}"),
            hold_writer(settings, tmp_path / ".reconcile", wait=0),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    # Its lease runs for minutes, but its holder is gone from this very host: taken at once.
    with hold_writer(settings, tmp_path / ".reconcile", wait=0):
        pass


def test_covers_spec_paths_only_when_every_spec_path_is_included(tmp_path: Path) -> None:
    (tmp_path / "specs" / "team").mkdir(parents=True)
    settings = load_settings(tmp_path, environ={})
    assert covers_spec_paths(settings, [])
    assert covers_spec_paths(settings, [tmp_path / "specs"])
    assert covers_spec_paths(settings, [tmp_path])
    assert not covers_spec_paths(settings, [tmp_path / "specs" / "team"])
    assert not covers_spec_paths(settings, [tmp_path / "elsewhere"])
