"""The local lease file: compare-and-swap semantics, races between threads, bad files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reconciler.apply.lease.local import LocalFileStore
from reconciler.apply.lease.record import Holder, LeaseRecord, LeaseRecordError
from reconciler.apply.lease.store import LeaseConflictError, LeaseUnavailableError


def held(name: str, expires_at: float = 2_000_000_000.0) -> LeaseRecord:
    holder = Holder(id=name, host="host-a", pid=1, command=f"reconcile {name}", started_at=1.0)
    return LeaseRecord(holder=holder, expires_at=expires_at, journal={"by": name})


def test_an_absent_lease_reads_as_none_and_creates_no_folder(tmp_path: Path) -> None:
    state = tmp_path / ".reconcile"
    assert LocalFileStore(state).read() == (None, None)
    assert not state.exists()


def test_swap_creates_then_replaces_only_from_the_current_version(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / ".reconcile")
    first = store.swap(None, held("a"))
    assert store.read() == (first, held("a"))
    with pytest.raises(LeaseConflictError, match=r"lease\.json changed since it was read"):
        store.swap(None, held("b"))
    second = store.swap(first, held("b"))
    assert second != first
    with pytest.raises(LeaseConflictError):
        store.swap(first, held("c"))
    assert store.read() == (second, held("b"))
    # No temporary files are left behind.
    assert sorted(p.name for p in (tmp_path / ".reconcile").iterdir()) == [
        "lease.json",
        "lease.lock",
    ]


def _contend(
    store: LocalFileStore,
    barrier: threading.Barrier,
    expected: str,
    name: str,
    outcomes: dict[str, str | None],
) -> None:
    barrier.wait()
    try:
        outcomes[name] = store.swap(expected, held(name))
    except LeaseConflictError:
        outcomes[name] = None


def test_threads_swapping_from_the_same_version_have_exactly_one_winner(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / ".reconcile")
    version = store.swap(None, held("start"))
    for round_number in range(10):
        barrier = threading.Barrier(8)
        outcomes: dict[str, str | None] = {}
        threads = [
            threading.Thread(
                target=_contend, args=(store, barrier, version, f"r{round_number}-{i}", outcomes)
            )
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = {name: v for name, v in outcomes.items() if v is not None}
        assert len(outcomes) == 8
        assert len(winners) == 1, outcomes
        [(name, version)] = winners.items()
        assert store.read() == (version, held(name))


def test_a_malformed_file_says_which_file_and_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / ".reconcile"
    state.mkdir()
    (state / "lease.json").write_text("{not json")
    with pytest.raises(LeaseRecordError, match=r"lease\.json cannot be read: .*not valid JSON"):
        LocalFileStore(state).read()
    with pytest.raises(LeaseRecordError, match=r"delete .*lease\.json and run again"):
        LocalFileStore(state).read()


def test_an_unwritable_folder_is_unavailable_and_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = LocalFileStore(blocker / ".reconcile")
    with pytest.raises(LeaseUnavailableError, match=r"cannot write the writer lease .*lease\.json"):
        store.swap(None, held("a"))
    assert "local lease file" in store.describe()
