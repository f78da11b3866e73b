"""Benchmark the sandbox: list latency over 10,000 seeded jobs, and creates per second.

Run by hand (not part of the test suite):

    python bench/bench_sandbox.py [--jobs 10000] [--creates 5000] [--concurrency 64]
                                  [--client-processes 1] [--list-rounds 20] [--plain-server]

The sandbox runs in its own process (as ``reconcile sandbox`` runs it, state in a temporary
folder on disk). For every provider it serves that this file knows a list request for, it seeds
``--jobs`` jobs and times list requests. Creates are timed on Segmind's submit endpoint, sent by
a minimal asyncio HTTP/1.1 client (one process, or several with ``--client-processes``) so the
client does not eat the CPU the server is measured on. ``--plain-server`` forces uvicorn's
pure-Python stack (h11, asyncio loop) even when httptools and uvloop are installed.
Prints the machine, the figures, and the sandbox's request counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import httpx

SERVER_CODE = """
import sys
from pathlib import Path
from reconcile_sandbox import server
from reconcile_sandbox.app import SandboxConfig
if sys.argv[2] == "plain":
    make_config = server._uvicorn_config
    def plain_config(sandbox):
        config = make_config(sandbox)
        config.http, config.loop = "h11", "asyncio"
        return config
    server._uvicorn_config = plain_config
config = SandboxConfig(data_dir=Path(sys.argv[1]), speed=1.0)
server.serve_forever(config, host="127.0.0.1", port=0)
"""


@dataclass(frozen=True)
class ListProbe:
    """How to list jobs on one provider: path under its base URL and how to authenticate."""

    path: str
    bearer: bool


LIST_PROBES = {
    "segmind": ListProbe("/finetune/request/list", bearer=False),
    "qubrid": ListProbe("/fine-tuning/jobs?limit=100&offset=0", bearer=True),
    "cohere": ListProbe("/v1/finetuning/finetuned-models?page_size=50", bearer=True),
}

SUBMIT_BODY = {
    "name": "bench",
    "data_source_path": "https://datasets.example.invalid/bench.zip",
    "instance_prompt": "photo of TOK",
    "trigger_word": "TOK",
    "base_model": "FLUX_PRO",
    "theme": "GENERAL",
    "advance_parameters": {"iterations": 300},
}


def start_server(data_dir: str, plain: bool) -> tuple[subprocess.Popen[str], dict[str, str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_CODE, data_dir, "plain" if plain else "auto"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    env: dict[str, str] = {}
    root = ""
    for line in process.stdout:
        match = re.match(r"export (\w+)=(\S+)", line)
        if match:
            env[match.group(1)] = match.group(2)
        served = re.search(r"serving on (http://\S+)", line)
        if served:
            root = served.group(1)
        if line.startswith("# Control API"):
            break
    return process, env, root


def wait_ready(root: str) -> None:
    for _ in range(200):
        try:
            httpx.get(f"{root}/_sandbox/", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the sandbox did not come up")


def auth_headers(provider: str, key: str, bearer: bool) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if bearer else {"x-api-key": key}


def bench_lists(root: str, env: dict[str, str], jobs: int, rounds: int) -> list[str]:
    lines: list[str] = []
    control = httpx.Client(base_url=f"{root}/_sandbox", timeout=120.0)
    providers = control.get("/").json()["providers"]
    for name, probe in LIST_PROBES.items():
        if name not in providers or not providers[name]["seedable"]:
            continue
        upper = name.upper()
        base_url = env.get(f"{upper}_BASE_URL") or f"{root}{providers[name]['mount']}"
        key = env[f"{upper}_API_KEY"]
        answer = control.post(f"/{name}/seed", json={"count": jobs})
        if answer.status_code != 200:
            lines.append(f"{name}: seeding failed, skipped: {answer.text}")
            continue
        seeded = answer.json()
        client = httpx.Client(
            base_url=base_url, headers=auth_headers(name, key, probe.bearer), timeout=120.0
        )
        client.get(probe.path)  # warm-up
        timings: list[float] = []
        size = 0
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get(probe.path)
            timings.append(time.perf_counter() - started)
            response.raise_for_status()
            size = len(response.content)
        timings.sort()
        p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
        lines.append(
            f"{name}: seeded {seeded['seeded']} jobs in {seeded['seconds']:.3f} s; "
            f"GET {probe.path}: median {statistics.median(timings) * 1000:.1f} ms, "
            f"p95 {p95 * 1000:.1f} ms, {size / 1e6:.2f} MB per response"
        )
    return lines


async def create_load(base_url: str, key: str, count: int, concurrency: int) -> tuple[int, int]:
    """``count`` submits over ``concurrency`` keep-alive connections; returns (ok, failed).

    A minimal HTTP/1.1 client on asyncio streams: the server is what is measured, and on two
    shared cores a full client library would spend more CPU than the server it drives.
    """
    url = httpx.URL(base_url)
    path = f"{url.path.rstrip('/')}/finetune/request/submit"
    body = json.dumps(SUBMIT_BODY).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nx-api-key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    remaining = iter(range(count))
    ok = failed = 0

    async def connection() -> None:
        nonlocal ok, failed
        reader, writer = await asyncio.open_connection(url.host, url.port)
        try:
            for _ in remaining:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 200"):
                    ok += 1
                else:
                    failed += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return ok, failed


def _client_process(args: tuple[str, str, int, int]) -> tuple[int, int]:
    return asyncio.run(create_load(*args))


def bench_creates(
    env: dict[str, str], creates: int, concurrency: int, processes: int
) -> tuple[str, float]:
    base_url, key = env["SEGMIND_BASE_URL"], env["SEGMIND_API_KEY"]
    asyncio.run(create_load(base_url, key, 50, 8))  # warm-up
    share = creates // processes
    per_process = max(1, concurrency // processes)
    started = time.perf_counter()
    if processes == 1:
        results = [asyncio.run(create_load(base_url, key, share, per_process))]
    else:
        with multiprocessing.Pool(processes) as pool:
            results = pool.map(_client_process, [(base_url, key, share, per_process)] * processes)
    elapsed = time.perf_counter() - started
    ok = sum(result[0] for result in results)
    failed = sum(result[1] for result in results)
    rate = ok / elapsed
    line = (
        f"segmind: {ok} creates ({failed} failed) in {elapsed:.2f} s with {concurrency} "
        f"concurrent connections from {processes} client process(es): {rate:.0f} creates/s"
    )
    return line, rate


def server_stack() -> str:
    parts = []
    for module in ("httptools", "uvloop"):
        try:
            __import__(module)
            parts.append(f"{module} yes")
        except ImportError:
            parts.append(f"{module} no")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--creates", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument("--list-rounds", type=int, default=20)
    parser.add_argument("--plain-server", action="store_true")
    args = parser.parse_args(argv)

    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; uvicorn extras: {server_stack()}"
        + (" (not used: --plain-server)" if args.plain_server else "")
    )
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as data_dir:
        process, env, root = start_server(data_dir, args.plain_server)
        try:
            wait_ready(root)
            for line in bench_lists(root, env, args.jobs, args.list_rounds):
                print(line)
            line, _ = bench_creates(env, args.creates, args.concurrency, args.client_processes)
            print(line)
            counts: dict[str, Any] = httpx.get(f"{root}/_sandbox/requests").json()
            print(f"sandbox request counters: {counts['counts']}")
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
