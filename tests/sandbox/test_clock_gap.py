"""The sandbox's clock runs on while no process has its state open: reopened after a real gap
of ``g`` seconds it reads ``g x speed`` later (at the speed it was saved with), never earlier
than before, and a job created before the gap has moved on along its lifecycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from reconcile_sandbox.clock import MAX_CATCH_UP, ClockAnchor, SimClock, iso_z
from reconcile_sandbox.testing import pretend_stopped_earlier, start_sandbox

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()


@dataclass
class FakeTime:
    """Real time that moves only when the test says so."""

    at: float = START

    def now(self) -> float:
        return self.at


@dataclass
class Saved:
    """The clock's anchor as a store would keep it."""

    anchor: ClockAnchor | None = None
    saves: list[ClockAnchor] = field(default_factory=list)

    def load_clock(self) -> ClockAnchor | None:
        return self.anchor

    def save_clock(self, anchor: ClockAnchor) -> None:
        self.anchor = anchor
        self.saves.append(anchor)


def _run(saved: Saved, real: FakeTime, speed: float, seconds: float) -> float:
    """Open the clock, let ``seconds`` of real time pass in the run, stop; the last reading."""
    clock = SimClock(speed, persistence=saved, real_time=real)
    real.at += seconds
    clock.save()
    return clock.now()


def test_a_reopened_clock_has_run_on_through_the_gap_at_its_speed() -> None:
    saved, real = Saved(), FakeTime()
    stopped_at = _run(saved, real, 60.0, 5.0)
    assert stopped_at == START + 300.0

    real.at += 600.0  # ten real minutes with no process up
    reopened = SimClock(60.0, persistence=saved, real_time=real)
    assert reopened.now() == stopped_at + 600.0 * 60.0


def test_the_gap_counts_at_the_speed_saved_and_the_new_speed_applies_after() -> None:
    saved, real = Saved(), FakeTime()
    stopped_at = _run(saved, real, 60.0, 0.0)
    real.at += 10.0
    reopened = SimClock(1.0, persistence=saved, real_time=real)
    assert reopened.now() == stopped_at + 600.0  # the gap at 60x
    real.at += 10.0
    assert reopened.now() == stopped_at + 610.0  # then at this run's 1x


def test_a_frozen_clock_stays_frozen_across_a_gap() -> None:
    saved, real = Saved(), FakeTime()
    frozen = SimClock(0.0, persistence=saved, real_time=real)
    frozen.advance(50.0)
    stopped_at = frozen.now()
    frozen.save()

    real.at += 3600.0
    assert SimClock(0.0, persistence=saved, real_time=real).now() == stopped_at
    real.at += 3600.0
    # Even opened at another speed: the gap counts at the speed the clock was saved with.
    assert SimClock(60.0, persistence=saved, real_time=real).now() == stopped_at


def test_a_real_clock_that_went_backwards_never_rewinds_simulated_time() -> None:
    saved, real = Saved(), FakeTime()
    stopped_at = _run(saved, real, 60.0, 10.0)

    real.at -= 3600.0  # the machine's clock was set back an hour while no process ran
    reopened = SimClock(60.0, persistence=saved, real_time=real)
    assert reopened.now() == stopped_at
    real.at += 1.0
    assert reopened.now() == stopped_at + 60.0

    # And within a run: a step back holds the reading; time then runs on from there.
    real.at -= 100.0
    assert reopened.now() == stopped_at + 60.0
    reopened.save()
    real.at += 1.0
    assert reopened.now() == stopped_at + 120.0


def test_a_very_long_gap_is_capped_and_every_timestamp_still_formats() -> None:
    saved, real = Saved(), FakeTime()
    stopped_at = _run(saved, real, 1_000_000.0, 0.0)
    real.at += 10 * 365 * 24 * 3600.0  # ten years down at a million times real time
    reopened = SimClock(1_000_000.0, persistence=saved, real_time=real)
    assert reopened.now() == stopped_at + MAX_CATCH_UP
    assert iso_z(reopened.now()).startswith("2027-")


def test_a_clock_saved_without_its_speed_runs_on_at_this_runs_speed() -> None:
    # State written before the speed was kept: the gap counts at the speed it is opened with.
    real = FakeTime()
    saved = Saved(ClockAnchor(sim=START, real=START, advanced=0.0))
    real.at += 20.0
    assert SimClock(60.0, persistence=saved, real_time=real).now() == START + 1200.0


SEGMIND_JOB = {
    "name": "gap",
    "data_source_path": "https://datasets.example.invalid/a.zip",
    "instance_prompt": "photo of TOK",
    "base_model": "FLUX_PRO",
}


def _segmind(running_base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=f"{running_base}/finetune/request", headers={"x-api-key": key})


@pytest.mark.parametrize("gap", [20.0, 600.0])
def test_a_job_created_before_a_gap_has_trained_when_the_sandbox_opens_again(
    tmp_path: Path, gap: float
) -> None:
    with start_sandbox(data_dir=tmp_path, speed=60.0) as first:
        api = _segmind(first.base_url("segmind"), first.keys["segmind"])
        job_id = api.post("/submit", json=SEGMIND_JOB).json()["finetune_id"]
        shown = api.request("GET", "/details", json={"request_id": job_id}).json()
        assert shown["finetune"]["status"] != "AVAILABLE"  # 810 simulated s: 13.5 real s at 60x
    with start_sandbox(data_dir=tmp_path, speed=60.0) as peek:
        stopped_at = peek.control.now()  # and this short run is saved as it stops

    pretend_stopped_earlier(tmp_path, gap)

    with start_sandbox(data_dir=tmp_path, speed=60.0) as second:
        reopened_at = second.control.now()
        assert reopened_at >= stopped_at + gap * 60.0
        assert reopened_at < stopped_at + (gap + 30.0) * 60.0, "ran on far longer than the gap"
        api = _segmind(second.base_url("segmind"), second.keys["segmind"])
        shown = api.request("GET", "/details", json={"request_id": job_id}).json()
        assert shown["finetune"]["status"] == "AVAILABLE"


def test_a_frozen_sandbox_opens_again_exactly_where_it_stopped(tmp_path: Path) -> None:
    with start_sandbox(data_dir=tmp_path) as first:  # speed 0: tests move time themselves
        stopped_at = first.control.advance_clock(50)
    pretend_stopped_earlier(tmp_path, 3600.0)
    with start_sandbox(data_dir=tmp_path) as second:
        assert second.control.now() == stopped_at
