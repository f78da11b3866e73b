"""The outputs of finished jobs read before, remembered across runs: ``reconcile status`` reads
a finished job's outputs beyond its list (Segmind's slug, one details request per job) once
per machine, not on every run. Without it, each ``status`` of an account with thousands of
finished Segmind jobs would send thousands of requests.

A finished job's outputs do not change, so an entry, by (provider, remote id), is kept for
good. The file is ``.reconcile/outputs.json`` (``outputs-sandbox.json`` for the sandbox's
jobs, whose ids mean nothing to the real providers), sealed like every cache file
(``reconciler.datasets.stat_cache``): the checkout is untrusted, and a committed file naming a
weights URL or a slug must never reach a deploy. A file this machine did not write, or a
corrupt one, is a miss (the outputs are read again); a file that cannot be written is no error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from reconciler.core.diagnostics import InvalidInputError
from reconciler.core.observed import JobOutputs
from reconciler.core.plan import Plan
from reconciler.datasets.stat_cache import read_sealed_json, seal, write_cache_file
from reconciler.outputs import OutputsKey, OutputsRead, read_outputs
from reconciler.planfile import outputs_from_dict, provider_from_json
from reconciler.run import Run
from reconciler.specs.cache import state_dir

_PURPOSE = b"reconcile outputs of finished jobs, version 1"
OUTPUTS_FILE = "outputs.json"
SANDBOX_OUTPUTS_FILE = "outputs-sandbox.json"


def outputs_file(run: Run) -> Path | None:
    """Where ``run``'s remembered outputs live; None when its state folder is not usable (a
    symlink or a file: nothing is read or written through it)."""
    try:
        folder = state_dir(run.settings)
    except InvalidInputError:
        return None
    return folder / (SANDBOX_OUTPUTS_FILE if run.use_sandbox else OUTPUTS_FILE)


def recall_outputs(file: Path | None) -> dict[OutputsKey, JobOutputs]:
    """The outputs remembered in ``file``; empty when it is missing, unsealed or corrupt."""
    entries = read_sealed_json(_PURPOSE, file)
    if not isinstance(entries, list):
        return {}
    recalled: dict[OutputsKey, JobOutputs] = {}
    for entry in entries:
        # The outputs' JSON form, read as a plan file's, under their job's provider and id.
        try:
            provider, remote_id = provider_from_json(entry["provider"]), entry["remote_id"]
            found = outputs_from_dict(entry)
        except (KeyError, TypeError, ValueError):
            continue  # not an entry this reconcile wrote: those outputs are read again
        if isinstance(remote_id, str) and found is not None:
            recalled[(provider, remote_id)] = found
    return recalled


def remember_outputs(file: Path | None, outputs: Mapping[OutputsKey, JobOutputs]) -> None:
    """Write ``outputs`` to ``file``, sealed; nothing when there is no file or no key."""
    if file is None:
        return
    entries = [
        {"provider": provider, "remote_id": remote_id, **found.to_dict()}
        for (provider, remote_id), found in sorted(outputs.items())
    ]
    sealed = seal(_PURPOSE, json.dumps(entries, separators=(",", ":")).encode())
    if sealed is not None:
        write_cache_file(file, sealed)


def read_outputs_once(
    run: Run, plan: Plan, known: Mapping[OutputsKey, JobOutputs] | None = None
) -> tuple[OutputsRead, dict[OutputsKey, JobOutputs]]:
    """``read_outputs`` of ``plan``'s finished jobs, each once per machine: those in ``known``
    (None: what this machine remembers) are not read again, and newly read ones are
    remembered. Returns the read and every output known now."""
    file = outputs_file(run)
    known = recall_outputs(file) if known is None else known
    read = read_outputs(plan, run.clients, parallelism=run.settings.parallelism, known=known)
    everything = {**known, **read.outputs}
    if read.outputs.keys() - known.keys():
        remember_outputs(file, everything)
    return read, everything
