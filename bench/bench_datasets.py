"""Benchmark of the dataset layer: fingerprint speed, cached re-fingerprint, zip memory.

Run by hand, never in CI:

    python bench/bench_datasets.py                 # 500 MB of files, 1,000 small files, 100 MB zip
    python bench/bench_datasets.py --total-mb 100  # quicker

It writes its own data into a temporary directory (removed at the end) and prints:

1. cold fingerprint time (no cache) next to ``sha256sum`` over the same files, and the ratio
   (target: <= 1.3). The page cache cannot be dropped without root, so both timings run on
   warm pages: every file is read once before either is measured. What is compared is the
   hashing work, not the disk.
2. warm (cached) re-fingerprint time of a 1,000-file folder (target: < 50 ms).
3. peak memory while zipping a 100 MB folder to a file, measured in a child process: the rise
   of its peak RSS (``ru_maxrss``) over the baseline after imports, plus tracemalloc's peak of
   Python allocations (target: < 60 MB above the baseline).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from reconciler.datasets import stat_cache
from reconciler.datasets.archive import plan_zip
from reconciler.datasets.files import list_dataset
from reconciler.datasets.fingerprint import fingerprint_dataset, hash_file

MB = 1_000_000


def write_files(folder: Path, count: int, size: int, prefix: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    block = 1 << 20
    for index in range(count):
        path = folder / f"{prefix}-{index:05d}.png"
        with path.open("wb") as out:
            left = size
            while left > 0:
                out.write(os.urandom(min(block, left)))
                left -= block
        paths.append(path)
    return paths


def warm_pages(paths: list[Path]) -> None:
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 20):
                pass


def best_and_median(timings: list[float]) -> str:
    return f"best {min(timings):.3f} s, median {statistics.median(timings):.3f} s"


def time_runs(function, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return timings


def bench_cold(folder: Path, paths: list[Path], repeat: int) -> None:
    total = sum(p.stat().st_size for p in paths)
    print(f"\n1. Cold fingerprint of {len(paths)} files, {total / MB:.0f} MB")
    print("   (pages warmed by one full read before both timings; no hash cache)")
    warm_pages(paths)
    ours = time_runs(lambda: fingerprint_dataset(folder), repeat)
    command = ["sha256sum", *map(str, paths)]
    theirs = time_runs(
        lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL), repeat
    )
    files = list_dataset(folder).files
    single = time_runs(lambda: [hash_file(f) for f in files], repeat)
    print(f"   fingerprint_dataset: {best_and_median(ours)}")
    print(f"     (hashing on one thread: {best_and_median(single)})")
    print(f"   sha256sum:           {best_and_median(theirs)}")
    if shutil.which("openssl"):
        # sha256sum's own code may lack the CPU's SHA instructions; openssl uses them, as
        # Python's hashlib does, so it shows what one process can do on this machine.
        openssl = ["openssl", "dgst", "-sha256", *map(str, paths)]
        reference = time_runs(
            lambda: subprocess.run(openssl, check=True, stdout=subprocess.DEVNULL), repeat
        )
        print(f"   openssl dgst:        {best_and_median(reference)}  (for reference)")
    ratio = statistics.median(ours) / statistics.median(theirs)
    verdict = "ok" if ratio <= 1.3 else "OVER TARGET"
    print(f"   ratio (median):      {ratio:.2f}x  (target <= 1.3x: {verdict})")
    print(f"   throughput:          {total / MB / statistics.median(ours):.0f} MB/s")


def bench_warm(folder: Path, cache: Path, created_ns: int, repeat: int) -> None:
    count = len(list(folder.iterdir()))
    print(f"\n2. Warm (cached) re-fingerprint of {count} files")
    # Files younger than the racy window are hashed but not remembered (by design); wait it out.
    wait_ns = created_ns + stat_cache.RACY_WINDOW_NS + 100_000_000 - time.time_ns()
    if wait_ns > 0:
        time.sleep(wait_ns / 1e9)
    first = time_runs(lambda: fingerprint_dataset(folder, cache_dir=cache), 1)
    warm = time_runs(lambda: fingerprint_dataset(folder, cache_dir=cache), repeat)
    median = statistics.median(warm)
    verdict = "ok" if median < 0.05 else "OVER TARGET"
    print(f"   first run (fills the cache): {first[0] * 1000:.1f} ms")
    print(f"   cached runs ({len(warm)}): best {min(warm) * 1000:.1f} ms,", end=" ")
    print(f"median {median * 1000:.1f} ms  (target < 50 ms: {verdict})")


def current_rss_kb() -> int:
    """Resident memory now (Linux /proc); elsewhere the peak so far, a safe upper bound."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def zip_child(folder: Path, output: Path) -> None:
    """Run in a child process: zip ``folder`` to ``output``, print memory figures."""
    baseline_kb = current_rss_kb()
    tracemalloc.start()
    with output.open("wb") as out:
        written = plan_zip(folder).write_to(out)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # ru_maxrss: the peak resident size over the process's life, in KiB on Linux.
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{written} {baseline_kb} {peak_kb} {traced_peak}")


def bench_zip_memory(folder: Path, output: Path) -> None:
    total = sum(p.stat().st_size for p in folder.iterdir())
    print(f"\n3. Peak memory zipping a {total / MB:.0f} MB folder to a file (child process)")
    result = subprocess.run(
        [sys.executable, __file__, "--zip-child", str(folder), str(output)],
        check=True,
        capture_output=True,
        text=True,
    )
    written, baseline_kb, peak_kb, traced = map(int, result.stdout.split())
    rise = (peak_kb - baseline_kb) / 1024
    print(f"   zip written: {written / MB:.1f} MB")
    print(f"   baseline RSS after imports: {baseline_kb / 1024:.1f} MiB")
    print(f"   peak RSS:                   {peak_kb / 1024:.1f} MiB")
    print(f"   rise over baseline:         {rise:.1f} MiB  (target < 60 MB:", end=" ")
    print("ok)" if rise * 1.048576 < 60 else "OVER TARGET)")
    print(f"   tracemalloc peak (Python allocations): {traced / 1024 / 1024:.1f} MiB")


def describe_machine() -> None:
    print(f"Python {platform.python_version()} on {platform.platform()}")
    print(f"CPUs: {os.cpu_count()}")
    if shutil.which("lscpu"):
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        model = [line for line in lines if line.startswith("Model name")]
        print("\n".join(model))
    version = subprocess.run(["sha256sum", "--version"], capture_output=True, text=True)
    print(version.stdout.splitlines()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--total-mb", type=int, default=500, help="data for the cold run")
    parser.add_argument("--file-mb", type=float, default=2.0, help="size of each file")
    parser.add_argument("--small-files", type=int, default=1000, help="files for the warm run")
    parser.add_argument("--zip-mb", type=int, default=100, help="folder size for the zip run")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each measure")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    parser.add_argument("--zip-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.zip_child:
        zip_child(*args.zip_child)
        return

    describe_machine()
    root = Path(tempfile.mkdtemp(prefix="bench-datasets-", dir=args.dir))
    try:
        small = root / "small"
        write_files(small, args.small_files, 10_000, "small")
        created_ns = time.time_ns()

        file_size = int(args.file_mb * MB)
        count = max(1, args.total_mb * MB // file_size)
        paths = write_files(root / "large", count, file_size, "large")
        bench_cold(root / "large", paths, args.repeat)

        bench_warm(small, root / "cache", created_ns, max(args.repeat, 10))

        zip_folder = root / "zip"
        zip_file_size = int(2.5 * MB)
        write_files(zip_folder, args.zip_mb * MB // zip_file_size, zip_file_size, "zip")
        bench_zip_memory(zip_folder, root / "out.zip")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
