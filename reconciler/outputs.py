"""The outputs of finished managed jobs, for ``reconcile status`` (and its ``--wait``) and the
notifications: what the lists showed (``ObservedJob.outputs``), completed where a provider's
list does not show them all (``Capabilities.reads_outputs``: Segmind's slug is in its details
only) by one request per finished job, through the adapter's ``OutputsReader``.

A finished job's outputs do not change, so a caller that polls (``status --wait``, the daemon)
passes what it read before (``known``) and each job is read once. A failed read is reported
(as a provider not fully read: the pipeline that waits for the slug must not go on without
it), never raised. Reads go a few at a time, like an apply's requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from reconciler.core.observed import Health, JobOutputs, ObservedJob
from reconciler.core.plan import IncompleteProvider, Plan
from reconciler.core.spec import Provider
from reconciler.providers.base import OutputsReader, ProviderClient, ProviderError
from reconciler.providers.profiles import PROFILES

OutputsKey = tuple[Provider, str]  # (provider, remote id)


def outputs_key(job: ObservedJob) -> OutputsKey:
    return (job.provider, job.remote_id)


@dataclass(frozen=True)
class OutputsRead:
    """The outputs read beyond the lists, by job, and the reads that failed."""

    outputs: Mapping[OutputsKey, JobOutputs] = field(default_factory=dict)
    failures: tuple[IncompleteProvider, ...] = ()


def finished_jobs(plan: Plan) -> list[ObservedJob]:
    """The current remote job of every spec whose job finished training (``Healthy``)."""
    return [
        change.current
        for change in plan.changes
        if change.desired is not None
        and change.current is not None
        and change.current.health is Health.HEALTHY
    ]


def read_outputs(
    plan: Plan,
    clients: Mapping[Provider, ProviderClient],
    *,
    parallelism: int = 4,
    known: Mapping[OutputsKey, JobOutputs] | None = None,
) -> OutputsRead:
    """The outputs of every finished managed job whose provider reads them beyond its list
    (``known`` ones are not read again), at most ``parallelism`` reads at once."""
    known = known or {}
    readers = {
        provider: client
        for provider, client in clients.items()
        if PROFILES[provider].capabilities.reads_outputs and isinstance(client, OutputsReader)
    }
    wanted: list[tuple[OutputsReader, ObservedJob]] = []
    outputs: dict[OutputsKey, JobOutputs] = {}
    for job in finished_jobs(plan):
        key = outputs_key(job)
        reader = readers.get(job.provider)
        if key in known:
            outputs[key] = known[key]
        elif reader is not None:
            wanted.append((reader, job))
    if not wanted:
        return OutputsRead(outputs)

    def read(item: tuple[OutputsReader, ObservedJob]) -> JobOutputs | ProviderError:
        reader, job = item
        try:
            return reader.read_outputs(job)
        except ProviderError as error:
            return error

    failures: list[IncompleteProvider] = []
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(wanted)))) as pool:
        for (_, job), answer in zip(wanted, pool.map(read, wanted), strict=True):
            if isinstance(answer, ProviderError):
                failures.append(
                    IncompleteProvider(
                        job.provider,
                        f"the outputs of {job.name or job.remote_id} could not be read"
                        f" ({answer.message})",
                    )
                )
            else:
                outputs[outputs_key(job)] = answer
    return OutputsRead(outputs, tuple(failures))
