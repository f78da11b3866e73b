"""Settings: the optional ``reconciler.yaml`` at the repository root, plus the environment.

This module owns where the repository root is, what ``reconciler.yaml`` may say (checked
against ``schemas/config.schema.json``, with ``file:line:col`` for every problem) and how it
combines with the environment into one frozen ``Settings`` value, and what the settings say a
run may do: its plan options (``plan_options_for``, with the repository's owner id) and
whether some paths cover every spec (``covers_spec_paths``, which ``--prune`` needs).

Where keys are sent is not the repository's to choose: a pull request's author controls
``reconciler.yaml`` while CI holds the keys. Base URLs come from the environment
(``*_BASE_URL``) or the built-in defaults; a ``base_url`` in ``reconciler.yaml`` other than the
default is refused unless the environment allows it (``RECONCILE_ALLOW_CONFIG_BASE_URLS=1``),
and plain ``http://`` is accepted only for a loopback host, whatever its source.

Each provider's part (``Settings.providers``) is read as its profile says
(``reconciler.providers.profiles``): its base URL variable and default, the variables its key is
read from, the keys of other services it is handed, and its own options under
``providers.<name>``.

API keys come only from the environment (``SEGMIND_API_KEY``, ``QUBRID_API_KEY``,
``COHERE_API_KEY`` or else ``CO_API_KEY``, ``WANDB_API_KEY``), read once here: surrounding
whitespace (the newline of ``echo key > file``) is removed, and a key with whitespace, control
or non-ASCII characters inside is refused naming the variable, never the value. Keys are held
as ``Secret`` values whose ``repr`` and ``str`` are masked, so printing a ``Settings`` never
shows a key.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from reconciler.core.diagnostics import Diagnostic, InvalidInputError, display_path
from reconciler.core.plan import Guardrails, PlanOptions, PlanOrigin
from reconciler.core.spec import PROVIDERS, Provider
from reconciler.providers.profile import ProviderProfile
from reconciler.providers.profiles import PROFILES, key_variables
from reconciler.redact import register_secret
from reconciler.yamlio.schema_files import CONFIG_SCHEMA

if TYPE_CHECKING:
    from reconciler.yamlio.yaml_source import YamlDocument

OptionsT = TypeVar("OptionsT")

CONFIG_FILE_NAME = "reconciler.yaml"
DEFAULT_SPEC_PATHS = ("specs",)
DEFAULT_PARALLELISM = 4
DEFAULT_WATCH_INTERVAL = 60.0
# How long after a create the providers' lists may still not show the job. A create whose
# answer was lost is sent again only once a list begun this long after it still lacks the job;
# a job created this recently is taken to exist even if no list shows it yet. Five minutes is far
# beyond the seconds a list endpoint normally lags, and costs little: it only delays a resend
# after an unknown outcome, while a second send is a second paid training.
DEFAULT_SETTLE_WINDOW = 300.0
# How long an apply waits for the writer lease another apply holds (0: fail at once, naming it).
DEFAULT_LOCK_TIMEOUT = 0.0
# How often an apply waiting for the writer lease looks at it again (each look reads the lease
# ref on the git remote): the lease is taken soon after it is released, without a stream of
# requests to the git host.
DEFAULT_LOCK_POLL = 1.0
# How long a request to a provider's API waits for its answer. A create that is not answered
# in time is not sent again (its outcome is unknown), so a longer wait costs only time.
DEFAULT_REQUEST_TIMEOUT = 60.0
# After a create's answer is lost: how long a run keeps listing the provider afresh for its job
# (pauses doubling from a fifteenth of it: 0.5, 1, 2 and 4 s). A list that lags only briefly
# shows the job within it; a longer lag leaves the create unconfirmed for the next run.
DEFAULT_CONFIRM_WAIT = 7.5
# The longest first pause before a failed request is sent again; each retry may wait twice as
# long as the one before (a random share of it, so parallel workers do not return together).
DEFAULT_RETRY_WAIT = 0.5
# How long reading all of one provider's lists may take, every page and retry included. A list
# that never ends (a next-page token forever, a server that trickles) must not hold a run, or
# the daemon, for good; five minutes is hundreds of pages at a real provider's pace.
DEFAULT_LIST_TIMEOUT = 300.0
_URL = re.compile(r"https?://\S+")
# Set to 1 where reconciler.yaml is trusted (not in a pull request's checkout) to let its
# `base_url` entries choose where keys are sent.
ALLOW_CONFIG_BASE_URLS_VARIABLE = "RECONCILE_ALLOW_CONFIG_BASE_URLS"
_TRUE = ("1", "true", "yes")
# What an HTTP header value may carry: visible ASCII. Anything else inside a key is a copy and
# paste gone wrong, and httpx would refuse the header quoting it.
_KEY_CHARACTERS = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class Secret:
    """A credential. Shown as ``****`` everywhere; ``reveal()`` is the one way to read it."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    def __str__(self) -> str:
        return "****"


@dataclass(frozen=True, kw_only=True)
class ProviderSettings(Generic[OptionsT]):
    """One provider's settings: where its API is, its key (None when unset), the keys of other
    services it is handed (``service_keys``, by the names its profile gives them, only those
    set) and its own ``options`` (its profile's type, from ``providers.<name>``)."""

    base_url: str
    options: OptionsT
    api_key: Secret | None = None
    service_keys: Mapping[str, Secret] = field(default_factory=dict)


@dataclass(frozen=True)
class NotifySettings:
    """``notify:`` in ``reconciler.yaml``: the environment variable that holds the webhook's
    URL (the URL is a secret and never in the file) and the payload's format
    (``reconciler.notify``)."""

    url_variable: str
    format: Literal["slack", "json"] = "slack"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, resolved. ``spec_paths`` are absolute; ``providers`` holds
    every provider's part, read as its profile says."""

    root: Path
    config_file: Path | None
    spec_paths: tuple[Path, ...]
    providers: Mapping[Provider, ProviderSettings[Any]]  # every provider, as PROFILES orders them
    parallelism: int = DEFAULT_PARALLELISM
    prune: bool = False
    watch_interval: float = DEFAULT_WATCH_INTERVAL
    owner: str | None = None  # the repository's owner id; every job it creates carries it
    guardrails: Guardrails = field(default_factory=Guardrails)
    forget: frozenset[tuple[Provider, str]] = frozenset()
    settle_window: float = DEFAULT_SETTLE_WINDOW
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    lock_poll: float = DEFAULT_LOCK_POLL
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    list_timeout: float = DEFAULT_LIST_TIMEOUT
    confirm_wait: float = DEFAULT_CONFIRM_WAIT
    retry_wait: float = DEFAULT_RETRY_WAIT
    lease_remote: str | None = None  # None: the branch's upstream remote, else origin
    notify: NotifySettings | None = None  # None: no notifications
    # Where the state folder is, when not ``<root>/.reconcile``: the daemon reads specs from a
    # snapshot of the committed tree, and keeps the writer lease with its checkout's.
    state_dir: Path | None = None


def find_repo_root(paths: Sequence[Path] = (), cwd: Path | None = None) -> Path:
    """The repository root for ``paths`` (or the working directory when there are none).

    It is the nearest folder at or above the first path that holds ``reconciler.yaml`` or
    ``.git``. Without either anywhere above, it is the working directory: datasets named by
    specs must then stay inside the folder reconcile runs in.
    """
    here = (cwd or Path.cwd()).resolve()
    start = (here / paths[0]).resolve() if paths else here
    if not start.is_dir():
        start = start.parent
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE_NAME).is_file() or (folder / ".git").exists():
            return folder
    return here


def load_settings(root: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for the repository at ``root``; ``InvalidInputError`` lists every problem."""
    settings, problems = read_settings(root, environ)
    if problems:
        raise InvalidInputError(problems)
    return settings


def read_settings(
    root: Path, environ: Mapping[str, str] | None = None
) -> tuple[Settings, list[Diagnostic]]:
    """Settings for ``root`` and the problems found; invalid parts fall back to defaults.

    Used by spec loading so that a bad ``reconciler.yaml`` is reported together with the
    problems of every spec instead of hiding them.
    """
    env = os.environ if environ is None else environ
    config_path = root / CONFIG_FILE_NAME
    config: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    document: YamlDocument | None = None
    if config_path.is_file():
        config, problems, document = _read_config(config_path)
    sections = config.get("providers", {})

    def section(name: str) -> dict[str, Any]:
        value = sections.get(name, {})
        return value if isinstance(value, dict) else {}

    base_urls = {}
    allow_config = env.get(ALLOW_CONFIG_BASE_URLS_VARIABLE, "").strip().lower() in _TRUE
    for name, profile in PROFILES.items():
        base_urls[name], found = _base_url(profile, env, section(name), allow_config)
        problems.extend(
            document.diagnostic(("providers", name, "base_url"), message)
            if document is not None and where == "file"
            else Diagnostic("environment", 1, 1, profile.base_url_variable, message)
            for where, message in found
        )
    providers = {
        name: ProviderSettings(
            base_url=base_urls[name],
            api_key=_api_key(env, profile, problems),
            service_keys={
                key_name: key
                for key_name, variable in profile.service_key_variables.items()
                if (key := _key(env, variable, problems)) is not None
            },
            options=profile.read_options(section(name)),
        )
        for name, profile in PROFILES.items()
    }

    spec_paths = tuple(root / p for p in config.get("spec_paths", DEFAULT_SPEC_PATHS))
    limits = config.get("guardrails", {})
    settings = Settings(
        root=root,
        config_file=config_path if config_path.is_file() else None,
        spec_paths=spec_paths,
        parallelism=int(config.get("parallelism", DEFAULT_PARALLELISM)),
        prune=bool(config.get("prune", False)),
        watch_interval=float(config.get("watch_interval", DEFAULT_WATCH_INTERVAL)),
        owner=config.get("owner"),
        guardrails=Guardrails(**{k: int(v) for k, v in limits.items()}),
        forget=frozenset(
            (entry["provider"], entry["name"])
            for entry in config.get("forget", ())
            if entry["provider"] in PROVIDERS
        ),
        settle_window=float(config.get("settle_window", DEFAULT_SETTLE_WINDOW)),
        lock_timeout=float(config.get("lock_timeout", DEFAULT_LOCK_TIMEOUT)),
        lock_poll=float(config.get("lock_poll", DEFAULT_LOCK_POLL)),
        request_timeout=float(config.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)),
        list_timeout=float(config.get("list_timeout", DEFAULT_LIST_TIMEOUT)),
        confirm_wait=float(config.get("confirm_wait", DEFAULT_CONFIRM_WAIT)),
        retry_wait=float(config.get("retry_wait", DEFAULT_RETRY_WAIT)),
        lease_remote=config.get("lease", {}).get("remote"),
        notify=_notify(config.get("notify"), document, problems),
        providers=providers,
    )
    return settings, problems


def _notify(
    section: Any, document: YamlDocument | None, problems: list[Diagnostic]
) -> NotifySettings | None:
    """``notify:`` (already checked against the schema), or None. Naming a provider's key
    variable is refused: the repository is untrusted input, and a notification must never
    be sent to whatever a key holds."""
    if not isinstance(section, dict) or "webhook_url_env" not in section:
        return None
    variable = str(section["webhook_url_env"])
    if variable in key_variables():
        if document is not None:
            problems.append(
                document.diagnostic(
                    ("notify", "webhook_url_env"),
                    f"{variable} holds an API key, not a webhook URL; name the variable that"
                    " holds the webhook's URL (for example RECONCILE_NOTIFY_URL)",
                )
            )
        return None
    return NotifySettings(variable, "json" if section.get("format") == "json" else "slack")


def require_owner(settings: Settings) -> str:
    """The repository's owner id; ``InvalidInputError`` saying how to set one when
    ``reconciler.yaml`` has none (nothing can be planned without knowing which jobs are
    this repository's)."""
    if settings.owner is not None:
        return settings.owner
    config = settings.config_file or settings.root / CONFIG_FILE_NAME
    raise InvalidInputError(
        [
            Diagnostic(
                display_path(config),
                1,
                1,
                "owner",
                "no owner id is set. Every job reconcile creates carries the repository's owner"
                " id, so that repositories sharing a provider account never touch each other's"
                f" jobs. Add a line like `owner: {suggested_owner(settings.root)}` (2-16 of"
                " a-z, 0-9 and single hyphens, unique among the repositories that share your"
                f" provider accounts) to {CONFIG_FILE_NAME} at the repository root, and commit"
                " it",
            )
        ]
    )


def suggested_owner(root: Path) -> str:
    """An owner id to suggest: the repository folder's name as a slug, and four random hex
    digits so that two repositories of the same name do not suggest the same id."""
    slug = "-".join(re.findall(r"[a-z0-9]+", root.name.lower()))[:11].strip("-") or "repo"
    return f"{slug}-{os.urandom(2).hex()}"


def covers_spec_paths(settings: Settings, paths: Sequence[Path]) -> bool:
    """Whether ``paths`` (none: the configured spec paths) include every configured spec
    path. Pruning from fewer specs would delete the jobs of the specs left out."""
    if not paths:
        return True
    given = [path.resolve() for path in paths]
    return all(
        any(spec_path.resolve().is_relative_to(path) for path in given)
        for spec_path in settings.spec_paths
    )


def plan_origin(settings: Settings, paths: Sequence[Path], *, sandbox: bool) -> PlanOrigin:
    """What a plan of ``paths`` (none: the configured spec paths) is made for: the sandbox, or
    each provider's base URL host (a host and port only: never a key, a path or a query), and
    the paths relative to the repository root where they are inside it."""
    root = settings.root.resolve()

    def shown(path: Path) -> str:
        full = path.resolve()
        return full.relative_to(root).as_posix() if full.is_relative_to(root) else str(full)

    hosts: tuple[tuple[Provider, str], ...] = ()
    if not sandbox:
        # Sorted, as a plan file holds them.
        hosts = tuple(
            sorted(
                (provider, urlsplit(part.base_url).netloc.rpartition("@")[2])
                for provider, part in settings.providers.items()
            )
        )
    return PlanOrigin(
        sandbox=sandbox,
        hosts=hosts,
        paths=tuple(shown(path) for path in (paths or settings.spec_paths)),
    )


def plan_options_for(
    settings: Settings,
    *,
    prune: bool | None = None,
    allow_replace: bool = False,
    retry_failed: bool = False,
    limits: Mapping[str, int | None] | None = None,
) -> PlanOptions:
    """The plan options of a run: the repository's owner (``InvalidInputError`` when
    ``reconciler.yaml`` sets none), its guardrails with ``limits`` (``max_creates``...) given
    for this run in their place, what it forgets and its settle window; ``prune`` None takes
    ``reconciler.yaml``'s."""
    raised = {name: value for name, value in (limits or {}).items() if value is not None}
    return PlanOptions(
        owner=require_owner(settings),
        prune=settings.prune if prune is None else prune,
        allow_replace=allow_replace,
        retry_failed=retry_failed,
        guardrails=replace(settings.guardrails, **raised),
        forget=settings.forget,
        settle_window=settings.settle_window,
    )


def _base_url(
    profile: ProviderProfile[Any],
    env: Mapping[str, str],
    section: Mapping[str, Any],
    allow_config: bool,
) -> tuple[str, list[tuple[Literal["environment", "file"], str]]]:
    """The provider's base URL and the problems with the ones given (each said to come from
    the environment or the file); the default stands in for a refused one."""
    variable, default = profile.base_url_variable, profile.default_base_url
    problems: list[tuple[Literal["environment", "file"], str]] = []
    from_env = env.get(variable)
    if from_env:
        problem = _url_problem(from_env)
        if problem is None:
            return from_env.rstrip("/"), problems
        problems.append(("environment", f"{problem}; fix or unset the variable"))
    from_file = section.get("base_url")
    if from_file is None or str(from_file).rstrip("/") == default:
        return default, problems
    if not allow_config:
        problems.append(
            (
                "file",
                "a base URL in reconciler.yaml is not used: the repository must not choose"
                " where API keys are sent (in CI, a pull request's author writes this file)."
                f" Set {variable} in the environment instead, or set"
                f" {ALLOW_CONFIG_BASE_URLS_VARIABLE}=1 where this file is trusted",
            )
        )
        return default, problems
    problem = _url_problem(str(from_file))
    if problem is not None:
        problems.append(("file", problem))
        return default, problems
    return str(from_file).rstrip("/"), problems


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot receive API keys, or None: it must be https://, or http:// to a
    loopback host (a local sandbox), since a key sent over plain HTTP can be read on the way."""
    if not _URL.fullmatch(url):
        return "must be an http:// or https:// URL"
    if url.startswith("https://"):
        return None
    if _is_loopback(url):
        return None
    return (
        "plain http:// is accepted only for a loopback host (127.0.0.1, ::1, localhost):"
        " API keys would cross the network unencrypted; use https://"
    )


def _is_loopback(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # a malformed port or bracket: not a host to trust
        return False
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_key(
    env: Mapping[str, str], profile: ProviderProfile[Any], problems: list[Diagnostic]
) -> Secret | None:
    for variable in profile.key_variables:
        if env.get(variable):
            return _key(env, variable, problems)
    return None


def _key(env: Mapping[str, str], variable: str, problems: list[Diagnostic]) -> Secret | None:
    """The key in ``variable``, stripped of surrounding whitespace; None (and a problem naming
    the variable, never the value) when what is left is not one token of visible ASCII."""
    raw = env.get(variable)
    if not raw:
        return None
    value = raw.strip()
    if _KEY_CHARACTERS.fullmatch(value):
        return Secret(value)
    # Mask what was given wherever it could still be printed, before saying anything about it.
    register_secret(raw)
    register_secret(value)
    what = "is empty" if not value else "holds a space, control or non-ASCII character inside it"
    problems.append(
        Diagnostic(
            "environment",
            1,
            1,
            variable,
            f"{what} (surrounding whitespace is removed); set it to the key alone",
        )
    )
    return None


def _read_config(
    path: Path,
) -> tuple[dict[str, Any], list[Diagnostic], YamlDocument | None]:
    """The valid content of ``reconciler.yaml`` ({} when invalid), its problems and its
    document (for the positions of later checks; None when there is none)."""
    # Imported here, only when there is a file to read: a run without reconciler.yaml whose
    # specs are all cached loads neither PyYAML nor jsonschema
    # (tests/unit/specs/test_spec_cache.py).
    from reconciler.yamlio.schema_check import schema_diagnostics
    from reconciler.yamlio.yaml_source import read_yaml_file

    display = display_path(path)
    documents, problems = read_yaml_file(path, display, allow_empty=True)
    if problems:
        return {}, problems, None
    if not documents:  # an empty file (or only comments) sets nothing
        return {}, [], None
    if len(documents) > 1:
        where = documents[1].start
        return (
            {},
            [
                Diagnostic(
                    display,
                    where.line,
                    where.col,
                    "",
                    f"{CONFIG_FILE_NAME} holds one YAML mapping, not several documents",
                )
            ],
            None,
        )
    document = documents[0]
    if not isinstance(document.value, dict):
        return (
            {},
            [
                Diagnostic(
                    display,
                    document.start.line,
                    document.start.col,
                    "",
                    f"{CONFIG_FILE_NAME} must be a mapping of settings"
                    " (spec_paths, parallelism, ...)",
                )
            ],
            None,
        )
    problems = schema_diagnostics(document, CONFIG_SCHEMA)
    return ({} if problems else document.value), problems, document
