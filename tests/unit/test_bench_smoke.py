"""Each benchmark under ``bench/`` run at a tiny size, so that none of them rots unseen (one
that spoke the daemon's old webhook header did, until this ran it). Timings are printed by the
benchmarks and never asserted here: only that each runs to its end and measures what it says."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPO

BENCH = REPO / "bench"

RUNS = {
    "bench_plan.py": (
        ["--seeded", "30", "--specs", "6", "--converge", "6", "--rounds", "1"],
        [
            "reconcile --dry-run, 6 specs",
            "converge 1 of 6 new specs",
            "requests:",
            "dry run after it: exit 0",
        ],
    ),
    "bench_datasets.py": (
        [
            "--total-mb",
            "2",
            "--file-mb",
            "1",
            "--small-files",
            "10",
            "--zip-mb",
            "1",
            "--repeat",
            "1",
        ],
        ["peak RSS"],
    ),
    "bench_watch.py": (
        ["--samples", "2", "--resyncs", "20", "--specs", "3", "--snapshot-specs", "10"],
        ["commit -> submit request", "resyncs: 20 in", "daemon RSS:"],
    ),
    "bench_sandbox.py": (
        [
            "--jobs",
            "30",
            "--creates",
            "5",
            "--concurrency",
            "2",
            "--client-processes",
            "1",
            "--list-rounds",
            "1",
        ],
        ["segmind: 5 creates (0 failed)"],
    ),
}


@pytest.mark.parametrize("script", sorted(RUNS))
def test_the_benchmark_runs_to_its_end_at_a_tiny_size(script: str) -> None:
    arguments, expected = RUNS[script]
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for line in expected:
        assert line in done.stdout, (line, done.stdout[-3000:])
