"""``reconcile import`` as one call (``import_jobs``) and its ``ImportReport`` (shown by
``reconciler.views.import_report``).

The repository's settings and specs are read first (an invalid spec stops the import before
any request); then one list of the provider, read as every run reads it (``observe_provider``:
the embedded sandbox when asked, a client like a run's); then the jobs are selected
(``select``), turned into documents (``document``) and written as spec files (``write``).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from reconciler.config import Settings, find_repo_root, load_settings
from reconciler.core.observed import ProviderObservation
from reconciler.core.spec import PROVIDERS, FineTuneSpec, Provider
from reconciler.importer import ImportRefusedError
from reconciler.importer.document import SkippedJob
from reconciler.importer.select import select_jobs
from reconciler.importer.write import SpecFile, prepare_files, write_files
from reconciler.observing import observe
from reconciler.providers.clients import ClientFactory, ClientPool, default_client_factory
from reconciler.sandboxed import sandbox_settings
from reconciler.specs import load_specs

DEFAULT_OUT_DIR = Path("specs/imported")


@dataclass(frozen=True)
class ImportReport:
    """The outcome of ``reconcile import``: files written, jobs skipped, names not matched."""

    provider: Provider
    out_dir: Path
    written: tuple[SpecFile, ...]
    skipped: tuple[SkippedJob, ...]
    unmatched: int
    managed: int = 0
    match: str | None = None


def compile_match(match: str | None) -> re.Pattern[str] | None:
    """``--match`` as a regular expression, or ``ImportRefusedError`` saying what is wrong."""
    if match is None:
        return None
    try:
        return re.compile(match)
    except re.error as error:
        raise ImportRefusedError(
            f"--match {match!r} is not a valid regular expression ({error});"
            " e.g. --match '^mascot-'"
        ) from None


def managed_specs(settings: Settings) -> list[FineTuneSpec]:
    """The specs under the repository's spec paths (those that exist): the jobs they name are
    managed already and are not imported again. ``InvalidInputError`` if any is invalid."""
    paths = [path for path in settings.spec_paths if path.exists()]
    return load_specs(paths, settings=settings, check_datasets=False) if paths else []


def provider_named(name: str) -> Provider:
    """``name`` as a ``Provider``, or ``ImportRefusedError`` listing the known ones."""
    for provider in PROVIDERS:
        if provider == name:
            return provider
    raise ImportRefusedError(f"unknown provider {name!r}; use one of {', '.join(PROVIDERS)}")


def import_jobs(
    provider_name: str,
    *,
    out_dir: Path = DEFAULT_OUT_DIR,
    match: str | None = None,
    use_sandbox: bool = False,
    factory: ClientFactory | None = None,
) -> ImportReport:
    """Observe provider ``provider_name`` (its client from ``factory``, by default the run's)
    and write a spec per job into ``out_dir``.

    Raises ``ImportRefusedError`` (nothing written) for an unknown provider, a bad ``match``,
    a list that could not be read, or files in the way; ``InvalidInputError`` for a bad
    ``reconciler.yaml``.
    """
    provider = provider_named(provider_name)
    pattern = compile_match(match)
    settings = load_settings(find_repo_root([out_dir]))
    # Read before any request: an invalid spec stops the import here.
    managed = managed_specs(settings)
    observation = observe_provider(settings, provider, use_sandbox=use_sandbox, factory=factory)
    if not observation.complete:
        raise ImportRefusedError(
            f"{provider} could not be read ({observation.error or 'unknown error'}); nothing was"
            " written"
        )
    selection = select_jobs(observation, pattern, managed, settings.owner)
    files, invalid = prepare_files(selection.specs, out_dir, settings)
    write_files(files)
    return ImportReport(
        provider=provider,
        out_dir=out_dir,
        written=tuple(files),
        skipped=selection.skipped + tuple(invalid),
        unmatched=selection.unmatched,
        managed=selection.managed,
        match=match,
    )


def observe_provider(
    settings: Settings,
    provider: Provider,
    *,
    use_sandbox: bool = False,
    factory: ClientFactory | None = None,
) -> ProviderObservation:
    """One provider's lists, as a run reads them, through a sandbox started for the call when
    ``use_sandbox``."""
    with contextlib.ExitStack() as stack:
        if use_sandbox:
            settings = stack.enter_context(sandbox_settings(settings))
        pool = stack.enter_context(ClientPool(factory or default_client_factory))
        return observe(pool.clients_for(settings, [provider])[provider])
