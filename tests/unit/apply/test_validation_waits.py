"""The validation pollers on their own, against a scripted ``DatasetValidator``: what ends a
wait, and how a dataset a list does not show is found."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from datetime import datetime

from reconciler.apply.validation import UNSETTLED_TICKS, Outcomes, ValidationWaits, Waiting
from reconciler.core.plan import Upload
from reconciler.core.spec import DesiredJob
from reconciler.providers.base import (
    DatasetValidator,
    RetryableError,
    ServiceRefusedError,
    Validated,
    Validation,
)


class ScriptedValidator:
    """Answers each tick's list from ``lists`` (one mapping, or an error, per tick; the last
    one again once they run out) and each look at one dataset from ``looks``."""

    validation_poll = 2.0
    validation_timeout = 1800.0

    def __init__(
        self,
        lists: list[Mapping[str, Validation] | Exception],
        looks: Mapping[str, Validation | None] | None = None,
    ) -> None:
        self.lists = lists
        self.looks = dict(looks or {})
        self.listed = 0
        self.looked: list[str] = []

    def start_upload(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        raise AssertionError("not called by the pollers")

    def validations(
        self, dataset_ids: Collection[str], *, since: datetime | None = None
    ) -> Mapping[str, Validation]:
        answer = self.lists[min(self.listed, len(self.lists) - 1)]
        self.listed += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    def validation_of(self, dataset_id: str) -> Validation | None:
        self.looked.append(dataset_id)
        return self.looks.get(dataset_id)


class Ended:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.done = threading.Event()

    def outcomes(self) -> Outcomes:
        return Outcomes(
            ready=lambda w: self._end("ready", w, ""),
            failed=lambda w, message: self._end("failed", w, message),
            refused=lambda w, error: self._end("refused", w, error.message),
        )

    def _end(self, how: str, waiting: Waiting, message: str) -> None:
        self.events.append((how, waiting.dataset_id, message))
        self.done.set()


def wait_for(validator: ScriptedValidator, *dataset_ids: str) -> Ended:
    ended = Ended()
    assert isinstance(validator, DatasetValidator)
    # The pollers' pause comes before each tick: none ticks until every dataset waits, so each
    # tick sees them all (the test counts the ticks).
    all_waiting = threading.Event()

    def pause(seconds: float) -> None:
        all_waiting.wait()

    waits = ValidationWaits(ended.outcomes(), attempts=3, pause=pause)
    for dataset_id in dataset_ids:
        waits.wait_for(validator, "cohere", Waiting(dataset_id, None, dataset_id))
    all_waiting.set()
    while len(ended.events) < len(dataset_ids):
        assert ended.done.wait(timeout=30)
        ended.done.clear()
    waits.close()
    return ended


PENDING = Validation(Validated.PENDING)
OK = Validation(Validated.VALIDATED)


def test_each_dataset_is_handed_on_as_soon_as_a_tick_shows_it_validated() -> None:
    validator = ScriptedValidator(
        [{"a": PENDING, "b": PENDING}, {"a": OK, "b": PENDING}, {"b": OK}]
    )
    ended = wait_for(validator, "a", "b")
    assert ended.events == [("ready", "a", ""), ("ready", "b", "")]
    assert validator.listed == 3 and validator.looked == []


def test_a_dataset_the_list_does_not_show_is_looked_at_alone_after_some_ticks() -> None:
    validator = ScriptedValidator([{}], looks={"lagging": OK})
    ended = wait_for(validator, "lagging")
    assert ended.events == [("ready", "lagging", "")]
    assert validator.listed == UNSETTLED_TICKS and validator.looked == ["lagging"]


def test_a_dataset_nobody_shows_is_an_upload_that_did_not_take() -> None:
    validator = ScriptedValidator([{}], looks={"gone": None})
    ((how, _, message),) = wait_for(validator, "gone").events
    assert how == "failed"
    assert "no such dataset" in message and "run again to upload it anew" in message
    assert validator.listed == 2 * UNSETTLED_TICKS


def test_a_failed_validation_ends_the_wait_with_cohere_s_reason() -> None:
    failed = Validation(Validated.FAILED, "failed: found 1 valid conversation(s)")
    ((how, _, message),) = wait_for(ScriptedValidator([{"d": failed}]), "d").events
    assert how == "failed"
    assert "did not accept dataset d (failed: found 1 valid conversation(s)); fix the file" in (
        message
    )


def test_a_list_that_cannot_be_read_ends_the_waits_after_the_attempts_and_a_refusal_at_once() -> (
    None
):
    down = RetryableError("cohere", "listing datasets: the connection failed")
    validator = ScriptedValidator([down])
    ended = wait_for(validator, "a", "b")
    assert [how for how, _, _ in ended.events] == ["failed", "failed"]
    assert "could not be looked at: listing datasets: the connection failed" in ended.events[0][2]
    assert validator.listed == 3
    refused = ServiceRefusedError("cohere", "Cohere's fine-tuning is switched off")
    ended = wait_for(ScriptedValidator([refused]), "c")
    assert ended.events == [("refused", "c", "Cohere's fine-tuning is switched off")]


def test_an_unexpected_error_in_a_tick_ends_the_waits_instead_of_the_poller() -> None:
    # A poller that died of it would leave its datasets waited for by nobody: the apply would
    # wait for them forever.
    validator = ScriptedValidator([OverflowError("date value out of range")])
    ended = wait_for(validator, "a", "b")
    assert [how for how, _, _ in ended.events] == ["failed", "failed"]
    assert ended.events[0][2] == (
        "its validation could not be looked at: unexpected error: OverflowError: date value out"
        " of range"
    )
