"""The journal of recent writes: what an apply records about its creates, and reading it back
from a lease record that anyone with push access could have written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.apply.journal import JournalError, WriteJournal, writes_from_json, writes_to_json
from reconciler.core.action import Action
from reconciler.core.observed import Health as H
from reconciler.core.observed import ObservedJob, RecentWrite, WriteState
from reconciler.core.plan import Change


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def change(name: str, action: Action = Action.CREATE, current: str | None = None) -> Change:
    job = None
    if current is not None:
        job = ObservedJob("cohere", current, name, "STATUS_READY", H.HEALTHY)
    return Change(action, "cohere", name, "why", current=job, history=("old-1",) if job else ())


def test_a_run_records_intents_then_outcomes() -> None:
    clock = Clock()
    journal = WriteJournal((), by="run A", window=300.0, clock=clock)
    made, lost, skipped = change("made"), change("lost"), change("skipped", Action.REPLACE, "m-9")
    journal.intend([made, lost, skipped])
    assert {w.name: w.state for w in journal.writes()} == dict.fromkeys(
        ("made", "lost", "skipped"), WriteState.INTENDED
    )
    clock.now = 1_010.0
    assert journal.sending(made) == 1_010.0
    journal.confirmed(made, "m-1")
    journal.sending(lost)
    journal.unknown(lost)
    journal.not_sent(skipped)
    by_name = {w.name: w for w in journal.writes()}
    assert set(by_name) == {"made", "lost"}
    assert (by_name["made"].state, by_name["made"].remote_id) == (WriteState.CONFIRMED, "m-1")
    assert (by_name["lost"].state, by_name["lost"].sent_at) == (WriteState.UNKNOWN, 1_010.0)
    assert by_name["made"].by == "run A"


def test_a_replace_remembers_the_jobs_it_must_not_be_confused_with() -> None:
    journal = WriteJournal((), by="run A", window=300.0, clock=Clock())
    replacing = change("model", Action.REPLACE, current="m-9")
    journal.sending(replacing)
    (write,) = journal.writes()
    assert write.known_ids == ("old-1", "m-9")
    assert write.action is Action.REPLACE


def test_writes_older_than_the_window_are_dropped_but_intents_are_kept() -> None:
    clock = Clock()
    old = RecentWrite("cohere", "old", Action.CREATE, WriteState.CONFIRMED, 500.0, "m-0")
    kept = RecentWrite("cohere", "kept", Action.CREATE, WriteState.UNKNOWN, 900.0)
    journal = WriteJournal([old, kept], by="run B", window=300.0, clock=clock)
    assert [w.name for w in journal.writes()] == ["kept"]
    journal.intend([change("new")])
    clock.now = 5_000.0
    assert [w.name for w in journal.writes()] == ["new"]


def test_an_intent_of_another_run_is_not_dropped_as_not_sent() -> None:
    theirs = RecentWrite("cohere", "x", Action.CREATE, WriteState.INTENDED, 990.0, by="run A")
    journal = WriteJournal([theirs], by="run B", window=300.0, clock=Clock())
    journal.not_sent(change("x"))
    assert [w.by for w in journal.writes()] == ["run A"]


def test_the_json_form_reads_back_with_intents_bounded() -> None:
    writes = [
        RecentWrite("qubrid", "a", Action.CREATE, WriteState.CONFIRMED, 1.5, "j-1", (), "run A"),
        RecentWrite("cohere", "b", Action.REPLACE, WriteState.UNKNOWN, 2.0, None, ("m-1",), "A"),
        RecentWrite("segmind", "c", Action.CREATE, WriteState.INTENDED, 3.0, by="run A"),
    ]
    data = json.loads(json.dumps(writes_to_json(writes)))
    read = writes_from_json(data, intended_until=99.0)
    assert read[:2] == tuple(writes[:2])
    assert read[2].sent_at == 99.0  # the latest its run could have sent it
    assert writes_from_json(None, intended_until=0.0) == ()


@pytest.mark.parametrize(
    "entry",
    [
        {"provider": "nobody"},
        {"action": "delete"},
        {"state": "maybe"},
        {"sent_at": "soon"},
        {"sent_at": True},
        {"sent_at": float("nan")},
        {"known_ids": "m-1"},
        {"name": 7},
        {"by": "x" * 2000},
        {"remote_id": ["m-1"]},
    ],
)
def test_a_malformed_entry_makes_the_journal_unreadable(entry: dict[str, Any]) -> None:
    good = writes_to_json([RecentWrite("cohere", "a", Action.CREATE, WriteState.UNKNOWN, 1.0)])
    good["writes"][0].update(entry)
    with pytest.raises(JournalError):
        writes_from_json(good, intended_until=0.0)


@pytest.mark.parametrize("data", [[], {"format": 2, "writes": []}, {"format": 1, "writes": {}}])
def test_a_journal_of_another_shape_is_refused(data: Any) -> None:
    with pytest.raises(JournalError):
        writes_from_json(data, intended_until=0.0)
