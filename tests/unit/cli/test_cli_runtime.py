"""The interpreter settings the command line makes for a run (``cli._tune_interpreter``).

Run in a child process: they are process-wide, and this test process keeps its own."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import atexit, contextlib, gc, io, json, sys

# Registered first, so it runs last at exit (atexit runs newest first).
atexit.register(lambda: print(json.dumps({"frozen_at_exit": gc.get_freeze_count()})))
from reconciler.cli import main

default = gc.get_threshold()
for _ in range(2):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(["--version"])
print(json.dumps({
    "default": default,
    "threshold": gc.get_threshold(),
    "switch": sys.getswitchinterval(),
    "frozen_before_exit": gc.get_freeze_count(),
}))
"""


def test_a_run_collects_young_objects_less_often_switches_threads_sooner_and_skips_exit_gc() -> (
    None
):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    during, at_exit = (json.loads(line) for line in done.stdout.splitlines())
    assert during["threshold"][0] == 10_000
    assert during["threshold"][1:] == during["default"][1:]
    assert during["switch"] == 0.001
    # What is alive at exit is frozen then, and only then.
    assert during["frozen_before_exit"] == 0
    assert at_exit["frozen_at_exit"] > 0
