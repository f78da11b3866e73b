"""Benchmark of planning and converging at scale, against the sandbox in its own process.

Run by hand, never in CI:

    python bench/bench_plan.py                        # 10,000 seeded jobs, 1,000 specs
    python bench/bench_plan.py --seeded 2000 --specs 200 --converge 200   # quicker

It starts ``reconcile sandbox`` in a child process (state in a temporary folder), seeds
``--seeded`` existing jobs spread over the three providers, writes ``--specs`` specs with small
datasets of their own into a temporary repository, and measures:

1. ``reconcile --dry-run`` over the specs with warm caches (one untimed dry run first fills
   the validation and fingerprint caches under ``.reconcile/``; it starts once the files are
   older than the caches' racy window, as files in a checkout are), run as a user runs it
   (the console script, in a child process): its wall time, and the number of HTTP requests
   it made, from the sandbox's counters (target: no more than the list pages);
2. the bare time of fetching those same list pages with plain httpx in this process, one thread
   per provider as reconcile does, and the ratio of (1) to it (target: under 2x). The pages
   fetched are checked to be as many as reconcile's requests;
3. a converge (``reconcile``) of ``--converge`` new specs (a third per provider, each with a
   dataset of its own) while every Cohere dataset takes ``--validation-latency`` seconds to
   validate (the sandbox's clock at speed 1 for it, so simulated seconds are real ones):
   wall time, jobs per second, the wall time as a multiple of one latency, and the requests it
   made, as uploads, submits, reads of lists and looks at validation (by route); median and
   range over ``--converge-rounds`` rounds, each of new specs (``--converge 0`` skips it;
   ``--no-dry-run`` measures only this).

Prints the machine and every figure; the medians of ``--rounds`` timed rounds (each a dry run,
then the bare fetch) and each round's own ratio; the start-up floor (``reconcile --version``:
interpreter and command-line imports); and where a dry run's time goes, measured in this
process. The child runs from bytecode, as an installed package does, even where the
environment says not to write it (``PYTHONDONTWRITEBYTECODE``).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from reconcile_sandbox.testing import SandboxControl

RECONCILE = Path(sys.executable).parent / "reconcile"
PROVIDERS = ("segmind", "qubrid", "cohere")


# --- The sandbox in its own process ------------------------------------------------------------


def start_sandbox(
    data_dir: Path, speed: float
) -> tuple[subprocess.Popen[str], dict[str, str], str]:
    process = subprocess.Popen(
        [str(RECONCILE), "sandbox", "--port", "0", "--data", str(data_dir), "--speed", str(speed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    env: dict[str, str] = {}
    root = ""
    for line in process.stdout:
        exported = re.match(r"export (\w+)=(\S+)", line)
        if exported:
            env[exported.group(1)] = exported.group(2)
        served = re.search(r"serving on (http://\S+)", line)
        if served:
            root = served.group(1)
        if line.startswith("# Control API"):
            break
    if not root:
        raise SystemExit("the sandbox did not start")
    return process, env, root


# --- A repository of generated specs -----------------------------------------------------------

_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e527de00000000"
    "49454e44ae426082"
)


def write_specs(root: Path, count: int, tag: str) -> None:
    """``count`` specs spread over the providers, each with a small dataset of its own, in a
    repository that allows a plan of them all (guardrails)."""
    (root / ".git").mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(
        f"owner: bench\nguardrails: {{max_creates: {max(count, 50)}}}\n", encoding="utf-8"
    )
    specs, data = root / "specs", root / "datasets"
    specs.mkdir(exist_ok=True)
    data.mkdir(exist_ok=True)
    for index in range(count):
        provider = PROVIDERS[index % 3]
        name = f"{tag}-{provider[:3]}-{index:05d}"
        if provider == "segmind":
            folder = data / name
            folder.mkdir()
            (folder / "image.png").write_bytes(_PNG)
            (folder / "image.txt").write_text(f"photo of TOK number {index}")
            body = (
                f"provider: segmind\nbase_model: FLUX_PRO\ndataset: ../datasets/{name}/\n"
                "access: private\ntrigger_word: TOK\ninstance_prompt: photo of TOK\n"
            )
        elif provider == "qubrid":
            rows = "".join(f'"Question {index}.{n}?","Answer {n}."\n' for n in range(3))
            (data / f"{name}.csv").write_text("question,answer\n" + rows)
            body = (
                "provider: qubrid\nbase_model: Qwen/Qwen2.5-7B-Instruct\n"
                f"dataset: ../datasets/{name}.csv\ntask_type: qa\n"
            )
        else:
            labels = ("billing", "bug", "feature")
            rows = "".join(f'"ticket {index} number {n}",{labels[n % 3]}\n' for n in range(45))
            (data / f"{name}.csv").write_text("text,label\n" + rows)
            body = (
                "provider: cohere\nbase_model:\n  base_type: BASE_TYPE_CLASSIFICATION\n"
                f"dataset: ../datasets/{name}.csv\n"
            )
        (specs / f"{name}.yaml").write_text(
            f"apiVersion: reconciler/v1\nkind: FineTune\nname: {name}\n{body}"
        )


# --- The bare list pages ----------------------------------------------------------------------


def _segmind_pages(env: Mapping[str, str], client: httpx.Client) -> int:
    headers = {"x-api-key": env["SEGMIND_API_KEY"]}
    client.get(
        f"{env['SEGMIND_BASE_URL']}/finetune/request/list", headers=headers
    ).raise_for_status()
    return 1


def _qubrid_pages(env: Mapping[str, str], client: httpx.Client) -> int:
    base, headers = env["QUBRID_BASE_URL"], {"Authorization": f"Bearer {env['QUBRID_API_KEY']}"}
    pages, offset = 0, 0
    while True:
        page = client.get(
            f"{base}/fine-tuning/jobs", params={"limit": 100, "offset": offset}, headers=headers
        )
        page.raise_for_status()
        pages += 1
        body = page.json()
        offset += len(body["data"])
        if not body["data"] or offset >= body["total"]:
            break
    for path in ("/fine-tuning/datasets", "/fine-tuning/models"):
        client.get(f"{base}{path}", headers=headers).raise_for_status()
        pages += 1
    return pages


def _cohere_pages(env: Mapping[str, str], client: httpx.Client) -> int:
    """The model list at the client's page size (100), then the dataset list (the client maps
    dataset ids to our names through it)."""
    base, headers = env["COHERE_BASE_URL"], {"Authorization": f"Bearer {env['COHERE_API_KEY']}"}
    pages, token = 0, ""
    while True:
        params = {"page_size": "100", "order_by": "created_at"}
        if token:
            params["page_token"] = token
        page = client.get(f"{base}/v1/finetuning/finetuned-models", params=params, headers=headers)
        page.raise_for_status()
        pages += 1
        token = page.json().get("next_page_token") or ""
        if not token:
            break
    offset = 0
    while True:
        listed = client.get(
            f"{base}/v1/datasets", params={"limit": "100", "offset": str(offset)}, headers=headers
        )
        listed.raise_for_status()
        pages += 1
        count = len(listed.json().get("datasets", []))
        offset += count
        if count < 100:
            return pages


BARE_FETCHERS: Mapping[str, Callable[[Mapping[str, str], httpx.Client], int]] = {
    "segmind": _segmind_pages,
    "qubrid": _qubrid_pages,
    "cohere": _cohere_pages,
}


def bare_fetch(env: Mapping[str, str]) -> tuple[float, int]:
    """Every list page, one thread per provider (as reconcile observes): seconds, pages."""
    pages: dict[str, int] = {}
    clients = {p: httpx.Client(timeout=120.0) for p in PROVIDERS}

    def fetch(provider: str) -> None:
        pages[provider] = BARE_FETCHERS[provider](env, clients[provider])

    started = time.perf_counter()
    threads = [threading.Thread(target=fetch, args=(p,)) for p in PROVIDERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for client in clients.values():
        client.close()
    return elapsed, sum(pages.values())


# --- reconcile --------------------------------------------------------------------------------


def breakdown(repo: Path, env: Mapping[str, str]) -> dict[str, float]:
    """Where a dry run's time goes, measured in this process (no interpreter start-up)."""
    from reconciler.config import load_settings
    from reconciler.core.plan import PlanOptions
    from reconciler.diff import plan
    from reconciler.observing import observe_all, providers_to_observe
    from reconciler.providers.clients import ClientPool
    from reconciler.specs import load_specs, open_validation_cache
    from reconciler.specs.cache import state_dir
    from reconciler.specs.desired import desired_jobs
    from reconciler.views.plan import render_text

    times: dict[str, float] = {}
    started = time.perf_counter()
    settings = load_settings(repo, environ=env)
    validated = open_validation_cache(settings)
    specs = load_specs([repo / "specs"], settings=settings, cache=validated)
    times["load and validate specs (incl. dataset checks; warm cache)"] = (
        time.perf_counter() - started
    )
    started = time.perf_counter()
    desired = desired_jobs(specs, state_dir(settings), validated)
    times["fingerprints (warm cache)"] = time.perf_counter() - started
    providers = providers_to_observe(settings, desired)
    pool = ClientPool()
    clients = pool.clients_for(settings, providers)
    started = time.perf_counter()
    observed = observe_all(clients)
    times["observe (all providers at once; requests and parsing)"] = time.perf_counter() - started
    started = time.perf_counter()
    result = plan(desired, observed, PlanOptions())
    times["diff"] = time.perf_counter() - started
    started = time.perf_counter()
    _ = result.snapshot  # computed on first read: plan files, JSON output, apply --plan
    times["snapshot (not on a text dry run's path)"] = time.perf_counter() - started
    started = time.perf_counter()
    render_text(result, color=False)
    times["render text"] = time.perf_counter() - started
    pool.close()
    return times


def settle_files() -> None:
    """Wait until files just written are older than the caches' racy window: a cache trusts
    a file's stat only then (``reconciler.datasets.stat_cache.RACY_WINDOW_NS``)."""
    from reconciler.datasets.stat_cache import RACY_WINDOW_NS

    time.sleep(RACY_WINDOW_NS / 1e9 + 0.1)


def run_reconcile(repo: Path, env: Mapping[str, str], *args: str) -> tuple[float, int, str]:
    child_env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    # As in an installed package, the modules run from bytecode: an environment that forbids
    # writing it would have every run compile the package again.
    child_env.pop("PYTHONDONTWRITEBYTECODE", None)
    child_env.update(env)
    started = time.perf_counter()
    done = subprocess.run(
        [str(RECONCILE), *args],
        cwd=repo,
        env=child_env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    return elapsed, done.returncode, done.stdout[-600:] + done.stderr[-600:]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


# The requests of a converge by what they do, by the sandbox's route templates.
UPLOADS = (
    "POST /cohere/v1/datasets",
    "POST /qubrid/api/v1/fine-tuning/datasets",
    "GET /segmind/finetune/request/upload/pre-signed-url",
    "PUT /_objects/",
)
SUBMITS = (
    "POST /cohere/v1/finetuning/finetuned-models",
    "POST /qubrid/api/v1/fine-tuning/jobs",
    "POST /segmind/finetune/request/submit",
)
VALIDATION_LOOKS = ("GET /cohere/v1/datasets/{id}",)


def classify(counts: Mapping[str, int]) -> dict[str, int]:
    """A converge's requests: uploads, submits, Cohere dataset lists (the plans' observations
    and the validation poller's ticks), looks at one dataset's validation, other reads."""
    kinds = dict.fromkeys(
        ("uploads", "submits", "cohere dataset lists", "one-dataset looks", "other reads"), 0
    )
    for route, count in counts.items():
        if route.startswith(UPLOADS):
            kinds["uploads"] += count
        elif route.startswith(SUBMITS):
            kinds["submits"] += count
        elif route == "GET /cohere/v1/datasets":
            kinds["cohere dataset lists"] += count
        elif route in VALIDATION_LOOKS:
            kinds["one-dataset looks"] += count
        else:
            kinds["other reads"] += count
    return kinds


def converge_rounds(
    control: SandboxControl, env: Mapping[str, str], work: Path, options: Any
) -> None:
    """Converge ``--converge`` new specs ``--converge-rounds`` times, each round a repository
    of new specs, with Cohere's validation taking ``--validation-latency`` real seconds."""
    latency = options.validation_latency
    control.set_speed(1.0)
    control.set_latencies(**{"cohere.datasets": latency})
    times: list[float] = []
    for round_number in range(1, options.converge_rounds + 1):
        converge_repo = work / f"converge-repo-{round_number}"
        write_specs(converge_repo, options.converge, f"new{round_number}")
        control.clear_requests()
        elapsed, code, tail = run_reconcile(
            converge_repo, env, "--parallelism", str(options.parallelism)
        )
        if code != 0:
            raise SystemExit(f"the converge failed ({code}):\n{tail}")
        counts = control.request_counts()
        times.append(elapsed)
        kinds = classify(counts)
        print(
            f"converge {round_number} of {options.converge:,} new specs"
            f" (--parallelism {options.parallelism}, validation {latency:g} s): {elapsed:.1f} s,"
            f" {options.converge / elapsed:.1f} jobs/s, {elapsed / latency:.1f}x the latency"
            if latency > 0
            else f"converge {round_number}: {elapsed:.1f} s"
        )
        shares = ", ".join(f"{kind} {count}" for kind, count in kinds.items())
        print(f"  requests: {sum(counts.values())} ({shares})")
        print(f"  by route: {dict(sorted(counts.items()))}")
        elapsed, code, tail = run_reconcile(converge_repo, env, "--dry-run", "--detailed-exitcode")
        print(f"  dry run after it: exit {code} ({elapsed:.2f} s)")
    median = statistics.median(times)
    print(
        f"converge of {options.converge:,} new specs, validation {latency:g} s:"
        f" median {median:.1f} s ({median / latency:.1f}x the latency) over {len(times)} rounds,"
        f" range {min(times):.1f}-{max(times):.1f} s"
        if latency > 0
        else f"converge median {median:.1f} s"
    )
    control.set_speed(options.speed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeded", type=int, default=10_000, help="existing jobs in all")
    parser.add_argument("--specs", type=int, default=1_000, help="specs for the dry run")
    parser.add_argument("--converge", type=int, default=1_000, help="new specs to converge")
    parser.add_argument("--parallelism", type=int, default=8, help="the converge's parallelism")
    parser.add_argument("--rounds", type=int, default=5, help="timed dry runs (median)")
    parser.add_argument("--speed", type=float, default=1000.0, help="sandbox clock speed")
    parser.add_argument(
        "--validation-latency",
        type=float,
        default=4.0,
        help="seconds a Cohere dataset takes to validate during the converge",
    )
    parser.add_argument("--converge-rounds", type=int, default=1, help="timed converges")
    parser.add_argument("--no-dry-run", action="store_true", help="measure the converge only")
    options = parser.parse_args()

    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    process, env, root = start_sandbox(work / "sandbox", options.speed)
    control = SandboxControl(root, timeout=120.0)  # seeding 10,000 jobs may outlast 30 s
    try:
        share = options.seeded // 3
        for index, provider in enumerate(PROVIDERS):
            count = share + (options.seeded - 3 * share if index == 0 else 0)
            control.seed(provider, count, prefix="legacy")
        print(f"sandbox: {root} (own process), {options.seeded:,} seeded jobs")

        if options.no_dry_run:
            converge_rounds(control, env, work, options)
            return
        repo = work / "plan-repo"
        write_specs(repo, options.specs, "plan")
        settle_files()
        elapsed, code, tail = run_reconcile(repo, env, "--dry-run")  # fills the caches
        if code != 0:
            raise SystemExit(f"the first dry run failed ({code}):\n{tail}")
        print(f"dry run, cold caches: {elapsed:.2f} s")
        startup, _, _ = run_reconcile(repo, env, "--version")
        print(f"start-up floor (reconcile --version): {startup:.2f} s")

        dry_times, requests, bare_times, pages = [], [], [], []
        for _ in range(options.rounds):
            control.clear_requests()
            elapsed, code, tail = run_reconcile(repo, env, "--dry-run")
            if code != 0:
                raise SystemExit(f"a dry run failed ({code}):\n{tail}")
            counts = control.request_counts()
            if any(not route.startswith("GET ") for route in counts):
                raise SystemExit(f"the dry run sent a write: {counts}")
            dry_times.append(elapsed)
            requests.append(sum(counts.values()))
            bare, fetched = bare_fetch(env)
            bare_times.append(bare)
            pages.append(fetched)
        dry, bare = statistics.median(dry_times), statistics.median(bare_times)
        print(
            f"reconcile --dry-run, {options.specs:,} specs, warm cache: {dry:.2f} s"
            f" (runs: {', '.join(f'{t:.2f}' for t in dry_times)})"
        )
        print(f"  HTTP requests: {max(requests)} (list pages: {max(pages)}; target: no more)")
        ratios = ", ".join(f"{d / b:.2f}" for d, b in zip(dry_times, bare_times, strict=True))
        print(
            f"  bare list pages with httpx: {bare:.3f} s"
            f" (runs: {', '.join(f'{t:.3f}' for t in bare_times)})"
        )
        print(f"  ratio {dry / bare:.2f}x (target < 2x); each round's own: {ratios}")
        print(f"  request counts of the last run: {counts}")
        print("  where a dry run's time goes (in-process, one run):")
        for step, seconds in breakdown(repo, env).items():
            print(f"    {step}: {seconds:.3f} s")

        if options.converge > 0:
            converge_rounds(control, env, work, options)
    finally:
        control.close()
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
