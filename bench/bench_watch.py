"""Benchmark of the ``reconcile --watch`` daemon against the sandbox. Run by hand, never in CI:

    python bench/bench_watch.py                       # 20 samples, 2,000 resyncs
    python bench/bench_watch.py --samples 5 --resyncs 200   # quicker

It serves the sandbox on a thread of this process (in memory, simulated time frozen), writes a
git repository with ``--specs`` Segmind specs in a temporary folder (committed), and starts the
daemon as a user runs it (the console script, in a child process, with ``--listen`` and a
webhook secret): it applies commits. Then:

1. **snapshot update**: in a second repository of ``--snapshot-specs`` specs (in this
   process, no daemon), ``--samples`` times, commit an edit of one spec and time the update of
   the committed tree's snapshot (``GitCheckout.snapshot``: a ``git read-tree`` with the
   snapshot's private index, then the check for stray files). The first, full snapshot is
   timed too. Target: milliseconds, whatever the size of the tree.
2. **commit-to-create latency**: ``--samples`` times, write a new spec file, commit it, and
   measure the time from the moment ``git commit`` returns until the sandbox receives the job's
   submit request (this process watches the sandbox's request counters every millisecond).
   Target: median under 1 s.
3. **memory over resyncs**: drive resyncs back to back through ``POST /webhook`` (each waits
   for the run to finish, read from ``/healthz``), and compare the daemon's resident memory
   (``VmRSS`` of the child) after 10 resyncs with after ``--resyncs``. Target: under 10% growth.

Prints the machine and every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from reconcile_sandbox.testing import RunningSandbox, start_sandbox
from reconciler.watch.commits import GitCheckout
from reconciler.watch.listener import SIGNATURE_HEADER, sign

RECONCILE = Path(sys.executable).parent / "reconcile"
SECRET = "bench-webhook-secret"
SUBMIT_ROUTE = "POST /segmind/finetune/request/submit"
# Where the daemon's memory is read during the resyncs (and after the last one): a curve that
# levels off is warm-up (allocator arenas, caches); one that keeps rising is a leak.
CHECKPOINTS = (10, 100, 500, 1000)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e527de00000000"
    "49454e44ae426082"
)


def spec_text(name: str) -> str:
    return (
        "apiVersion: reconciler/v1\nkind: FineTune\n"
        f"name: {name}\nprovider: segmind\nbase_model: FLUX_PRO\ndataset: ../datasets/fox/\n"
        "access: private\ntrigger_word: TOK\ninstance_prompt: photo of TOK\ntheme: CHARACTER\n"
    )


GIT_ENVIRONMENT = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=root,
        env={**os.environ, **GIT_ENVIRONMENT},
        check=True,
        capture_output=True,
    )


def make_repo(root: Path, specs: int) -> None:
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    (root / "reconciler.yaml").write_text("owner: bench\n")
    (root / ".gitignore").write_text(".reconcile/\n")
    (root / "specs").mkdir()
    folder = root / "datasets" / "fox"
    folder.mkdir(parents=True)
    (folder / "fox-1.png").write_bytes(PNG)
    (folder / "fox-1.txt").write_text("photo of TOK, a plush fox")
    for index in range(specs):
        (root / "specs" / f"base-{index:03d}.yaml").write_text(spec_text(f"base-{index:03d}"))
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "the specs")


def snapshot_updates(workdir: Path, specs: int, samples: int) -> None:
    """Step 1: the snapshot's first write, then its update after a one-spec commit."""
    repo = workdir / "snapshot-repo"
    make_repo(repo, specs)
    checkout = GitCheckout.open(repo)
    assert checkout is not None
    state = repo / ".reconcile"
    started = time.perf_counter()
    checkout.snapshot(checkout.head(), state)
    first = time.perf_counter() - started
    updates = []
    for index in range(samples):
        spec = repo / "specs" / f"base-{index % specs:03d}.yaml"
        spec.write_text(spec.read_text().replace("access: private", "access: public"))
        git(repo, "commit", "--quiet", "-am", f"edit {spec.name}")
        head = checkout.head()
        started = time.perf_counter()
        checkout.snapshot(head, state)
        updates.append(time.perf_counter() - started)
    print(
        f"snapshot of a {specs}-spec tree: first write {first * 1000:.0f} ms; after a commit"
        f" of one spec ({samples} samples): median {statistics.median(updates) * 1000:.1f} ms,"
        f" p95 {percentile(updates, 0.95) * 1000:.1f} ms"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc (Linux only)")


def submits(running: RunningSandbox) -> int:
    return int(running.sandbox.requests.counts().get(SUBMIT_ROUTE, 0))


def wait_runs(client: httpx.Client, at_least: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            runs = int(client.get("/healthz").json()["runs"])
        except (httpx.HTTPError, ValueError, KeyError):
            runs = -1
        if runs >= at_least:
            return runs
        time.sleep(0.002)
    raise TimeoutError(f"the daemon did not reach {at_least} runs in {timeout} s")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--resyncs", type=int, default=2000)
    parser.add_argument("--specs", type=int, default=5, help="specs in the repository at start")
    parser.add_argument(
        "--snapshot-specs", type=int, default=1000, help="specs in the snapshot step's tree"
    )
    args = parser.parse_args()

    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    snapshot_updates(workdir, args.snapshot_specs, args.samples)
    repo = workdir / "repo"
    make_repo(repo, args.specs)
    port = free_port()
    with start_sandbox(speed=0.0) as running:
        env = {
            **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))},
            **running.env(),
            "RECONCILE_WEBHOOK_SECRET": SECRET,
        }
        daemon = subprocess.Popen(
            # No spacing between webhook runs: resyncs are driven back to back on purpose.
            [
                str(RECONCILE),
                "--watch",
                "--interval",
                "3600",
                "--webhook-spacing",
                "0",
                "--listen",
                f"127.0.0.1:{port}",
            ],
            cwd=repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)
        try:
            runs = wait_runs(client, 1)
            time.sleep(1.0)  # the file watcher is installed (the first run covers most of it)

            latencies = []
            for index in range(args.samples):
                runs = wait_runs(client, runs)
                before = submits(running)
                path = repo / "specs" / f"new-{index:03d}.yaml"
                path.write_text(spec_text(f"new-{index:03d}"))
                git(repo, "add", "-A")
                git(repo, "commit", "--quiet", "-m", f"train new-{index:03d}")
                started = time.perf_counter()
                while submits(running) == before:
                    if time.perf_counter() - started > 30:
                        raise TimeoutError(f"no submit for {path.name} within 30 s")
                    time.sleep(0.001)
                latencies.append(time.perf_counter() - started)
                runs = wait_runs(client, runs + 1)
                time.sleep(0.2)  # let the run that submitted finish before the next save
            print(
                f"commit -> submit request at the sandbox ({args.samples} samples):"
                f" median {statistics.median(latencies) * 1000:.0f} ms,"
                f" p95 {percentile(latencies, 0.95) * 1000:.0f} ms,"
                f" max {max(latencies) * 1000:.0f} ms (target: median < 1000 ms)"
            )

            runs = wait_runs(client, runs)
            rss_at: dict[int, int] = {}
            started = time.perf_counter()
            for resync in range(1, args.resyncs + 1):
                # Each delivery its own body: the daemon refuses a replayed one.
                body = json.dumps({"event": "AVAILABLE", "resync": resync}).encode()
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(SECRET, body),
                }
                client.post("/webhook", content=body, headers=headers)
                runs = wait_runs(client, runs + 1)
                if resync in CHECKPOINTS or resync == args.resyncs:
                    rss_at[resync] = rss_kib(daemon.pid)
            elapsed = time.perf_counter() - started
            growth = (rss_at[args.resyncs] - rss_at[10]) / rss_at[10] * 100
            jobs = args.specs + args.samples
            print(
                f"resyncs: {args.resyncs} in {elapsed:.1f} s ({args.resyncs / elapsed:.1f}/s,"
                f" {jobs} specs and jobs each)"
            )
            curve = ", ".join(f"{n}: {kib / 1024:.1f}" for n, kib in sorted(rss_at.items()))
            print(f"daemon RSS in MiB after N resyncs: {curve}")
            print(
                f"daemon RSS: {rss_at[10] / 1024:.1f} MiB after 10 resyncs,"
                f" {rss_at[args.resyncs] / 1024:.1f} MiB after {args.resyncs}:"
                f" {growth:+.1f}% (target: < 10%)"
            )
        finally:
            client.close()
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
