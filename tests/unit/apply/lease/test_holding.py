"""WriterLease over a real local lease file: acquire, wait, take over, renew, lose, release.

Time is injected where a test depends on it (the wall clock, the monotonic clock, the poll
sleep); threads are synchronised by events and conditions, never by sleeping.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.lease.holding import WriterLease
from reconciler.apply.lease.local import LocalFileStore
from reconciler.apply.lease.record import Holder, LeaseError, LeaseRecord, LeaseRecordError
from reconciler.apply.lease.store import (
    LeaseHeldError,
    LeaseLostError,
    LeaseUnavailableError,
)

WAIT_SECONDS = 10.0
HOST = socket.gethostname()
# Holders are this live process unless a test says otherwise: "host-a" is not this machine,
# but a same-host check must not find a dead pid by accident.
PID = os.getpid()


class ObservedStore:
    """A LocalFileStore that counts successful swaps (waitable) and can be told to fail."""

    def __init__(self, inner: LocalFileStore) -> None:
        self.inner = inner
        self.condition = threading.Condition()
        self.swaps = 0
        # Each entry fails one swap: "before" writing nothing, "after" writing (a lost answer).
        self.failures: list[str] = []

    def describe(self) -> str:
        return self.inner.describe()

    def read(self) -> tuple[str | None, LeaseRecord | None]:
        return self.inner.read()

    def swap(self, expected: str | None, record: LeaseRecord) -> str:
        with self.condition:
            failure = self.failures.pop(0) if self.failures else None
        if failure == "before":
            raise LeaseUnavailableError("injected: the store cannot be reached")
        version = self.inner.swap(expected, record)
        if failure == "after":
            raise LeaseUnavailableError("injected: the answer was lost")
        with self.condition:
            self.swaps += 1
            self.condition.notify_all()
        return version

    def wait_for_swaps(self, count: int) -> None:
        with self.condition:
            assert self.condition.wait_for(lambda: self.swaps >= count, WAIT_SECONDS), self.swaps


class Clock:
    """A hand-driven clock, usable as both the wall and the monotonic clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"the lease slept {seconds} s; it should not have waited")


def holder(name: str, host: str = "host-a", pid: int = PID) -> Holder:
    return Holder(id=name, host=host, pid=pid, command=f"reconcile {name}", started_at=1.0)


@pytest.fixture
def store(tmp_path: Path) -> ObservedStore:
    return ObservedStore(LocalFileStore(tmp_path / ".reconcile"))


@pytest.fixture
def leases() -> Iterator[Callable[..., WriterLease]]:
    """Makes WriterLeases and releases every one left held when the test ends."""
    made: list[WriterLease] = []

    def make(store: Any, who: Holder, **options: Any) -> WriterLease:
        lease = WriterLease(store, who, **options)
        made.append(lease)
        return lease

    yield make
    for lease in made:
        lease.release(lease.journal)


def put(store: ObservedStore, record: LeaseRecord) -> None:
    """Someone else writes ``record`` over whatever is there."""
    version, _record = store.read()
    store.inner.swap(version, record)


# -- acquiring --------------------------------------------------------------------------------


def test_a_free_lease_is_taken_with_an_expiry_and_released(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    wall, mono = Clock(1000.0), Clock(50.0)
    lease = leases(store, holder("a"), ttl=60, renew_every=59, clock=wall, monotonic=mono)
    acquired = lease.acquire()
    assert acquired.previous is None
    assert acquired.previous_holder_gone_at is None
    assert store.read()[1] == LeaseRecord(holder=holder("a"), expires_at=1060.0, journal={})
    assert lease.seconds_left() == 60.0
    mono.now = 80.0
    assert lease.seconds_left() == 30.0
    assert not lease.lost
    lease.release({"done": 1})
    assert store.read()[1] == LeaseRecord(holder=None, expires_at=None, journal={"done": 1})
    assert lease.seconds_left() == 0.0
    assert not lease.lost


def test_a_held_lease_is_refused_at_once_naming_its_holder(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    first = leases(store, holder("a"), clock=Clock(1000.0))
    first.acquire()
    second = leases(store, holder("b"), clock=Clock(1010.0), sleep=no_sleep)
    with pytest.raises(LeaseHeldError) as caught:
        second.acquire()
    message = str(caught.value)
    assert message.startswith(f"the writer lease is held by {holder('a').describe()}; ")
    assert f"it lives on {store.describe()}" in message
    assert "expires at 1970-01-01T00:18:40Z (in 110 s)" in message
    assert "`lock_timeout` in reconciler.yaml" in message
    assert "`--lock-timeout SECONDS`" in message
    assert "taken over after it expires at 1970-01-01T00:18:40Z" in message
    current = store.read()[1]
    assert current is not None and current.holder == holder("a")


def test_a_waiting_holder_gets_the_lease_once_the_first_releases(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    first = leases(store, holder("a"))
    first.acquire()
    first.write_journal({"created": ["job-1"]})
    polled, released = threading.Event(), threading.Event()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        polled.set()
        assert released.wait(WAIT_SECONDS)

    def release_when_polled() -> None:
        assert polled.wait(WAIT_SECONDS)
        first.release({"created": ["job-1"], "finished": True})
        released.set()

    releaser = threading.Thread(target=release_when_polled)
    releaser.start()
    second = leases(store, holder("b"), wait=30.0, sleep=sleep)
    acquired = second.acquire()
    releaser.join()
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.5
    assert acquired.previous == LeaseRecord(
        holder=None, expires_at=None, journal={"created": ["job-1"], "finished": True}
    )
    assert acquired.previous_holder_gone_at is None
    current = store.read()[1]
    assert current is not None and current.holder == holder("b")
    assert current.journal == {"created": ["job-1"], "finished": True}


def test_waiting_gives_up_when_the_wait_runs_out(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    leases(store, holder("a")).acquire()
    mono = Clock(0.0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        mono.now += seconds

    waiter = leases(store, holder("b"), wait=5.0, sleep=sleep, monotonic=mono)
    with pytest.raises(LeaseHeldError, match=r"\(waited 5 s\)"):
        waiter.acquire()
    assert 4 <= len(sleeps) <= 7
    assert sum(sleeps) == pytest.approx(5.0)


def test_a_waiting_holder_looks_again_every_poll_seconds(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    leases(store, holder("a")).acquire()
    mono = Clock(0.0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        mono.now += seconds

    waiter = leases(store, holder("b"), wait=1.0, poll=0.1, sleep=sleep, monotonic=mono)
    with pytest.raises(LeaseHeldError):
        waiter.acquire()
    assert 8 <= len(sleeps) <= 14
    assert all(0.075 <= seconds <= 0.125 for seconds in sleeps[:-1])
    assert sum(sleeps) == pytest.approx(1.0)


def test_an_expired_lease_is_taken_over_with_its_journal(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    crashed = LeaseRecord(holder=holder("a", host="ci-1"), expires_at=1000.0, journal={"j": 1})
    put(store, crashed)
    lease = leases(store, holder("b"), clock=Clock(2000.0), sleep=no_sleep)
    acquired = lease.acquire()
    assert acquired.previous == crashed
    assert acquired.previous_holder_gone_at == 1000.0
    assert store.read()[1] == LeaseRecord(holder=holder("b"), expires_at=2120.0, journal={"j": 1})


def test_a_dead_process_on_this_host_is_taken_over_before_its_expiry(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    dead = LeaseRecord(holder=holder("a", host=HOST, pid=424242), expires_at=1100.0)
    put(store, dead)
    asked: list[int] = []

    def is_alive(pid: int) -> bool:
        asked.append(pid)
        return False

    lease = leases(store, holder("b", host=HOST), clock=Clock(1000.0), is_alive=is_alive)
    acquired = lease.acquire()
    assert asked == [424242]
    assert acquired.previous == dead
    assert acquired.previous_holder_gone_at == 1000.0  # min(now, expires_at)


@pytest.mark.parametrize(
    ("their_host", "our_host", "alive"),
    [(HOST, HOST, True), ("ci-1", "ci-2", False), ("localhost", "localhost", False)],
    ids=["alive-here", "other-host", "anonymous-host"],
)
def test_a_live_or_unknowable_holder_is_not_taken_over(
    store: ObservedStore,
    leases: Callable[..., WriterLease],
    their_host: str,
    our_host: str,
    alive: bool,
) -> None:
    # Another machine's pid says nothing here, and neither does one from a host named
    # "localhost" (two containers may both be called that).
    put(store, LeaseRecord(holder=holder("a", host=their_host), expires_at=1100.0))
    lease = leases(
        store,
        holder("b", host=our_host),
        clock=Clock(1000.0),
        sleep=no_sleep,
        is_alive=lambda _pid: alive,
    )
    with pytest.raises(LeaseHeldError):
        lease.acquire()


def test_taking_the_lease_one_already_holds_is_an_error_not_a_deadlock(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    me = holder("a")
    first = leases(store, me)
    first.acquire()
    again = leases(store, me, wait=60.0, sleep=no_sleep)
    with pytest.raises(LeaseError, match="already held by this very holder") as caught:
        again.acquire()
    assert not isinstance(caught.value, LeaseHeldError)
    assert first.seconds_left() > 0 and not first.lost


def test_a_lease_object_is_acquired_once(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    lease = leases(store, holder("a"))
    lease.acquire()
    with pytest.raises(LeaseError, match="already used; make a new one per apply"):
        lease.acquire()


def _acquire_at_once(lease: WriterLease, barrier: threading.Barrier, outcomes: list[str]) -> None:
    barrier.wait()
    try:
        lease.acquire()
        outcomes.append("won")
    except LeaseHeldError:
        outcomes.append("held")


def test_threads_acquiring_a_free_lease_at_once_have_one_winner(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    for round_number in range(5):
        barrier = threading.Barrier(4)
        outcomes: list[str] = []
        contenders = [
            leases(store, holder(f"r{round_number}-{i}"), sleep=no_sleep) for i in range(4)
        ]
        threads = [
            threading.Thread(target=_acquire_at_once, args=(lease, barrier, outcomes))
            for lease in contenders
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["held", "held", "held", "won"]
        [winner] = [lease for lease in contenders if lease.seconds_left() > 0]
        current = store.read()[1]
        assert current is not None and current.holder == holder(
            f"r{round_number}-{contenders.index(winner)}"
        )
        winner.release({})


def test_an_unreadable_record_stops_acquire_with_its_message(
    store: ObservedStore, leases: Callable[..., WriterLease], tmp_path: Path
) -> None:
    (tmp_path / ".reconcile").mkdir()
    (tmp_path / ".reconcile" / "lease.json").write_text('{"format_version": 9}')
    with pytest.raises(LeaseRecordError, match="newer reconcile"):
        leases(store, holder("a")).acquire()


@pytest.mark.parametrize(
    "options",
    [{"ttl": 0}, {"wait": -1}, {"poll": 0}, {"ttl": 10, "renew_every": 10}, {"renew_every": 0}],
)
def test_nonsense_timings_are_refused(store: ObservedStore, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="a lease needs ttl > 0"):
        WriterLease(store, holder("a"), **options)


# -- the journal ------------------------------------------------------------------------------


def test_the_journal_is_carried_from_holder_to_holder(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    first = leases(store, holder("a"))
    assert first.acquire().previous is None
    first.write_journal({"creates": ["a"]})
    written = store.read()[1]
    assert written is not None and written.journal == {"creates": ["a"]}
    first.release({"creates": ["a", "b"]})
    second = leases(store, holder("b"))
    acquired = second.acquire()
    assert acquired.previous is not None
    assert acquired.previous.journal == {"creates": ["a", "b"]}
    assert second.journal == {"creates": ["a", "b"]}
    second.release(second.journal)
    assert store.read()[1] == LeaseRecord(None, None, {"creates": ["a", "b"]})


def test_as_a_context_manager_it_releases_with_the_last_journal(
    store: ObservedStore,
) -> None:
    lease = WriterLease(store, holder("a"))
    with lease as acquired:
        assert acquired.previous is None
        lease.write_journal({"k": "v"})
        assert lease.seconds_left() > 0
    assert store.read()[1] == LeaseRecord(holder=None, expires_at=None, journal={"k": "v"})
    assert lease.seconds_left() == 0.0
    with pytest.raises(LeaseLostError, match="it was released"):
        lease.write_journal({"late": True})
    assert not any(
        t.name == "reconcile-lease-renewal" and t.is_alive() for t in threading.enumerate()
    )


def test_a_write_whose_answer_was_lost_is_recognised_as_ours(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    lease = leases(store, holder("a"), renew_every=119)
    lease.acquire()
    store.failures.append("after")
    with pytest.raises(LeaseUnavailableError, match="answer was lost"):
        lease.write_journal({"n": 1})
    # The next write starts from a version that is gone, reads the record back, finds its
    # own holder there and carries on rather than calling the lease lost.
    lease.write_journal({"n": 2})
    assert not lease.lost
    record = store.read()[1]
    assert record is not None and record.holder == holder("a") and record.journal == {"n": 2}


# -- renewal ----------------------------------------------------------------------------------


def test_renewal_pushes_the_expiry_forward(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    ticks = itertools.count(1000)
    lease = leases(store, holder("a"), ttl=30, renew_every=0.01, clock=lambda: float(next(ticks)))
    lease.acquire()
    first = store.read()[1]
    assert first is not None and first.expires_at == 1030.0
    lease.write_journal({"w": 1})
    store.wait_for_swaps(5)  # acquire, the journal write, then three renewals at least
    renewed = store.read()[1]
    assert renewed is not None and renewed.holder == holder("a")
    assert renewed.expires_at is not None and renewed.expires_at >= 1034.0
    assert renewed.journal == {"w": 1}  # renewals keep the journal
    assert not lease.lost


def test_failed_renewals_are_retried_and_logged(
    store: ObservedStore, leases: Callable[..., WriterLease], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reconciler.lease")
    lease = leases(store, holder("a"), ttl=30, renew_every=0.01)
    lease.acquire()
    store.failures.extend(["before", "before"])
    store.wait_for_swaps(3)
    assert not lease.lost
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) >= 2
    assert warnings[0].startswith(f"could not renew the writer lease on {store.describe()}")
    assert "injected: the store cannot be reached" in warnings[0]


def test_a_stolen_lease_is_lost_at_the_next_write(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    lease = leases(store, holder("a"), renew_every=119)
    lease.acquire()
    thief = LeaseRecord(holder=holder("b"), expires_at=9e9, journal={"theirs": True})
    put(store, thief)
    with pytest.raises(LeaseLostError, match=r"it was taken over by `reconcile b` \(process"):
        lease.write_journal({"mine": True})
    assert lease.lost
    assert lease.seconds_left() == 0.0
    lease.release({"mine": True})
    assert store.read()[1] == thief  # a release never overwrites the new holder


def test_renewal_notices_a_stolen_lease(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    noticed = threading.Event()

    class LostHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("lost the writer lease"):
                noticed.set()

    handler = LostHandler()
    logging.getLogger("reconciler.lease").addHandler(handler)
    try:
        lease = leases(store, holder("a"), ttl=30, renew_every=0.01)
        lease.acquire()
        put(store, LeaseRecord(holder=holder("b"), expires_at=9e9))
        assert noticed.wait(WAIT_SECONDS)
    finally:
        logging.getLogger("reconciler.lease").removeHandler(handler)
    assert lease.lost
    assert lease.seconds_left() == 0.0
    with pytest.raises(LeaseLostError):
        lease.write_journal({})


def test_an_unrenewed_lease_runs_out_and_is_still_released_if_nobody_took_it(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    mono = Clock(0.0)
    lease = leases(store, holder("a"), ttl=60, renew_every=59, monotonic=mono)
    lease.acquire()
    mono.now = 59.5
    assert lease.seconds_left() == pytest.approx(0.5)
    mono.now = 60.0
    assert lease.seconds_left() == 0.0
    assert lease.lost
    with pytest.raises(LeaseLostError, match="before it could be renewed"):
        lease.write_journal({"late": True})
    lease.release({"kept": True})
    assert store.read()[1] == LeaseRecord(holder=None, expires_at=None, journal={"kept": True})


def test_writes_renewals_and_fencing_checks_from_many_threads(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    lease = leases(store, holder("a"), ttl=30, renew_every=0.005)
    lease.acquire()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        barrier.wait()
        try:
            for step in range(10):
                assert lease.seconds_left() > 0
                lease.write_journal({"thread": index, "step": step})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not lease.lost
    record = store.read()[1]
    assert record is not None and record.holder == holder("a")
    assert record.journal.get("step") == 9


def test_renewal_writes_the_journal_its_source_gives_at_that_moment(
    store: ObservedStore, leases: Callable[..., WriterLease]
) -> None:
    live = {"writes": 0}
    lease = leases(store, holder("a"), ttl=30, renew_every=0.01, journal_source=lambda: live)
    lease.acquire()
    live["writes"] = 7  # changed by the apply after its last explicit journal write
    store.wait_for_swaps(3)
    renewed = store.read()[1]
    assert renewed is not None and renewed.journal == {"writes": 7}
    lease.release(live)
