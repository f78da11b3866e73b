"""The command line: parse options, call the library, show the result, map the outcome to an
exit code.

Nothing else lives here. An option that several commands take is declared once, as a
decorator (``_paths_argument``, ``_output_option``, ``_change_options``, ``_sandbox_option``,
``_plan_options``), and every result is shown through one dispatch, ``_render``: (kind of
result, format) -> its view in ``reconciler.views``. The library and the views are imported
inside the functions that use them (each command, each branch of ``_render``) so that
``reconcile --help`` stays fast. ``reconcile [PATH...]`` with no sub-command converges (the
same as ``reconcile apply``); ``--dry-run`` and ``--watch`` select ``plan`` and ``watch``; a
first word that is no path but reads like a mistyped command is refused with the command meant.
Colour is decided in one place (``_colour_wanted``), and every command's help ends with
examples (``_examples``). Exit codes: 0 success or no changes, 1 any error, 2 changes present
(``plan`` with ``--detailed-exitcode``).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, assert_never

import click

from reconciler import __version__
from reconciler.sanitize import one_line

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from reconciler.config import Settings
    from reconciler.core.diagnostics import Diagnostic, InvalidInputError
    from reconciler.core.outcome import ApplyResult
    from reconciler.core.plan import IncompleteProvider, Plan, PlanOptions
    from reconciler.core.spec import DesiredJob, FineTuneSpec
    from reconciler.importer.command import ImportReport
    from reconciler.run import Run
    from reconciler.status import JobStatus

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

# Allocations between collections of young objects in a one-shot command (default 700).
_GC_YOUNG_THRESHOLD = 10_000
_GC_DEFAULT_THRESHOLD = gc.get_threshold()
# How long a thread may hold the interpreter while others wait (Python's default: 0.005 s).
_THREAD_SWITCH_SECONDS = 0.001

# Flags that choose a mode of the default command rather than being options of it.
_MODE_FLAGS = {"--dry-run": "plan", "--watch": "watch"}


class _ReconcileGroup(click.Group):
    """A group whose default command is ``apply``: ``reconcile specs/`` converges ``specs/``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if any(arg in ("--help", "-h", "--version") for arg in args[:1]):
            return super().parse_args(ctx, args)
        if ctx.resilient_parsing and not args:
            # Shell completion of the first word: offer the commands, not apply's PATHs.
            return super().parse_args(ctx, args)
        for flag, command in _MODE_FLAGS.items():
            if flag in args and (not args or args[0] not in self.commands):
                args = [command, *[a for a in args if a != flag]]
                break
        if args and args[0] not in self.commands and not ctx.resilient_parsing:
            self._refuse_mistyped_command(ctx, args[0])
        if not args or args[0] not in self.commands:
            args = ["apply", *args]
        return super().parse_args(ctx, args)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """The commands and the group's options, and, for an option's first word, the default
        command's too (``reconcile --sandbox``, ``reconcile --dry-run``)."""
        items = super().shell_complete(ctx, incomplete)
        if incomplete.startswith("-"):
            from click.shell_completion import CompletionItem

            words = [*_MODE_FLAGS]
            for param in self.commands["apply"].params:
                if isinstance(param, click.Option) and not param.hidden:
                    words += [*param.opts, *param.secondary_opts]
            known = {item.value for item in items}
            items += [
                CompletionItem(word)
                for word in words
                if word.startswith(incomplete) and word not in known
            ]
        return items

    def _refuse_mistyped_command(self, ctx: click.Context, word: str) -> None:
        """A usage error for a first word that is no path and reads like a mistyped command
        (``reconcile stauts``), rather than converging a PATH that does not exist. A word with
        a path separator or a dot is a path, mistyped or not: its own error says so later."""
        if word.startswith("-") or "/" in word or os.sep in word or "." in word:
            return
        if Path(word).exists():
            return
        import difflib  # only here: a word that is neither a command nor an existing path

        close = difflib.get_close_matches(word, sorted(self.commands), n=1)
        if close:
            raise click.UsageError(f"no such command {word!r}; did you mean {close[0]!r}?", ctx)


class _ProviderChoice(click.Choice[str]):
    """The names of ``PROFILES``, looked up when a command that takes a provider is parsed or
    its help shown: importing the profiles (and the values under them) at start-up would slow
    down every ``reconcile --help``."""

    def __init__(self) -> None:
        # Not click.Choice's, which takes its choices when it is made.
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from reconciler.providers.profiles import PROFILES

        return tuple(PROFILES)


def _say(message: str) -> None:
    """``reconcile: <message>`` on stderr, as one line: messages quote provider answers, lease
    holders and file names, which must not drive the terminal or forge a line."""
    click.echo(f"reconcile: {one_line(message)}", err=True)


def _fail(message: str) -> NoReturn:
    _say(message)
    sys.exit(EXIT_ERROR)


def _require_sandbox(what: str) -> None:
    """Exit 1 saying what to install when the emulator, a distribution of its own (the
    ``sandbox`` extra), is missing: found without being imported, so nothing has run yet."""
    if importlib.util.find_spec("reconcile_sandbox") is None:
        _fail(
            f"{what} needs the provider emulator (the reconcile-sandbox distribution), which is"
            " not installed; install it from a clone of the reconcile repository:"
            " pip install ./packaging/sandbox"
        )


def _sandbox_flag(ctx: click.Context, param: click.Parameter, use_sandbox: bool) -> bool:
    """The callback of every ``--sandbox`` flag."""
    if use_sandbox:
        _require_sandbox("--sandbox")
    return use_sandbox


def _report_invalid(error: InvalidInputError) -> NoReturn:
    """Print every diagnostic of an ``InvalidInputError`` (on stderr) and exit 1."""
    from reconciler.views.validation import render_problems

    click.echo(render_problems(error.diagnostics), err=True, nl=False)
    sys.exit(EXIT_ERROR)


def _examples(*commands: str) -> str:
    """A command's help epilog: an ``Examples`` section, one command line each, kept as
    written (click rewraps a paragraph unless it starts with ``\\b``)."""
    return "\b\nExamples:\n" + "\n".join(f"  {command}" for command in commands)


@click.group(
    cls=_ReconcileGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=_examples(
        "reconcile --sandbox                # try it: specs/ against the emulator",
        "reconcile --dry-run                # what would change; nothing is sent",
        "reconcile specs/segmind-qwen.yaml  # converge one spec",
        "reconcile status",
        "reconcile completion bash          # shell completion (see its --help)",
    ),
)
@click.version_option(__version__, prog_name="reconcile")
def cli() -> None:
    """Make fine-tuning jobs on Segmind, Qubrid and Cohere match the YAML specs in git.

    \b
    reconcile [PATH...]            converge: plan, then apply
    reconcile --dry-run [PATH...]  plan only, no write request of any kind
    reconcile --watch [PATH...]    the daemon
    """


# --- Options declared once ------------------------------------------------------------------

_Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _stacked(*decorators: _Decorator) -> _Decorator:
    """One decorator applying ``decorators`` in the order written: options show in ``--help``
    in that order."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


_paths_argument = click.argument("paths", nargs=-1, type=click.Path())

_output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="How to show the result: for people, for a PR comment, or for machines.",
)

# What a run may change, for the commands that plan (plan, apply) and the daemon.
_change_options = _stacked(
    click.option(
        "--prune/--no-prune",
        default=None,
        help="Delete marked jobs no spec names (default: reconciler.yaml's prune, else no).",
    ),
    click.option(
        "--allow-replace",
        is_flag=True,
        help="Let a change to an immutable field submit a new job under the same name.",
    ),
    click.option("--retry-failed", is_flag=True, help="Resubmit jobs whose last run failed."),
)

# Only for the commands that write (apply, the daemon): a plan sends no write to spread.
_parallelism_option = click.option(
    "--parallelism",
    type=click.IntRange(min=1),
    default=None,
    help="Uploads in flight at once while applying, and as many submits (default:"
    " reconciler.yaml, else 4).",
)


def _sandbox_option(verb: str = "Run against") -> _Decorator:
    """``--sandbox``, its help starting with ``verb`` (``Import from``)."""
    return click.option(
        "--sandbox",
        "use_sandbox",
        is_flag=True,
        callback=_sandbox_flag,
        help=f"{verb} the embedded emulator (state under .reconcile/sandbox/);"
        " the API keys in the environment are not used.",
    )


_limit_options = _stacked(
    *(
        click.option(
            f"--max-{noun}s",
            f"max_{noun}s",
            type=click.IntRange(min=0),
            default=None,
            metavar="N",
            help=f"Allow up to N {noun}s in this run's plan (default: guardrails.max_{noun}s in"
            f" reconciler.yaml, else {default}); a plan over a limit is blocked as a whole.",
        )
        for noun, default in (("create", 50), ("replace", 10), ("delete", 10))
    )
)

# What the commands that show a plan (plan, apply, show) count rather than list.
_show_unchanged_option = click.option(
    "--show-unchanged",
    is_flag=True,
    help="List every job in sync in the text plan (by default they are one count).",
)

# The specs a run plans (plan, apply): the others are left alone and counted.
_target_option = click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAME",
    help="Plan and apply only the spec NAME (repeatable); every other job is counted as not"
    " targeted, never deleted. Cannot be combined with --prune.",
)

# The options every planning command shares (DESIGN.md, Command line).
_plan_options = _stacked(
    _paths_argument, _output_option, _change_options, _sandbox_option(), _limit_options
)


@dataclass(frozen=True)
class _Choices:
    """The parsed common options."""

    paths: list[Path]
    output: str
    prune: bool | None
    allow_replace: bool
    retry_failed: bool
    use_sandbox: bool
    parallelism: int | None = None
    max_creates: int | None = None
    max_replaces: int | None = None
    max_deletes: int | None = None
    targets: tuple[str, ...] = ()

    def plan_options(self, settings: Settings) -> PlanOptions:
        from reconciler.config import covers_spec_paths, plan_options_for

        options = plan_options_for(
            settings,
            prune=self.prune,
            allow_replace=self.allow_replace,
            retry_failed=self.retry_failed,
            limits={
                "max_creates": self.max_creates,
                "max_replaces": self.max_replaces,
                "max_deletes": self.max_deletes,
            },
        )
        if options.prune and self.targets:
            given = "--prune" if self.prune else "prune: true in reconciler.yaml"
            _fail(
                f"{given} cannot be combined with --target: pruning deletes jobs outside the"
                " targets; run --target without pruning"
                + ("" if self.prune else " (pass --no-prune)")
                + ", and prune in a run of every spec"
            )
        every_spec = covers_spec_paths(settings, self.paths)
        if options.prune and not every_spec:
            _fail(
                "--prune needs every spec: with only some PATHs it would delete the jobs of"
                " the specs left out; run it without PATHs (or set spec_paths in"
                " reconciler.yaml)"
            )
        return replace(options, targets=frozenset(self.targets), partial=not every_spec)

    def admit(self, settings: Settings, desired: Sequence[DesiredJob], _: PlanOptions) -> None:
        """Exit 1 naming a ``--target`` that no spec found has, with the closest name."""
        from reconciler.yamlio.yaml_source import did_you_mean

        names = sorted({job.spec.name for job in desired})
        for target in self.targets:
            if target not in names:
                where = " ".join(str(p) for p in self.paths) or "the spec paths"
                _fail(
                    f"--target {target}: no spec under {where} has this name"
                    f"{did_you_mean(target, names)}"
                )


def _choices(paths: tuple[str, ...], **options: Any) -> _Choices:
    return _Choices(paths=[Path(p) for p in paths], **options)


@contextlib.contextmanager
def _run(
    choices: _Choices,
    *,
    options: Callable[[Settings], PlanOptions] | None = None,
) -> Iterator[Run]:
    """``run.open_run`` with its input errors reported the command line's way. The plan
    options are the command line's (``options`` replaces them: a saved plan's)."""
    from reconciler.core.diagnostics import InvalidInputError
    from reconciler.run import open_run

    try:
        with open_run(
            choices.paths,
            use_sandbox=choices.use_sandbox,
            options=options or choices.plan_options,
            admit=choices.admit if choices.targets else None,
        ) as run:
            yield run
    except InvalidInputError as error:
        _report_invalid(error)


# --- One output dispatch ---------------------------------------------------------------------


@dataclass(frozen=True)
class _PlanShown:
    """A plan, its paths shown relative to the repository's ``root``, its jobs in sync
    listed (``show_unchanged``) or counted."""

    plan: Plan
    root: Path
    show_unchanged: bool = False
    json: str | None = None  # the plan's JSON, when made already (`plan --out`): not made twice


@dataclass(frozen=True)
class _ApplyShown:
    """What an apply did, and the plan it carried out (the JSON holds both)."""

    plan: Plan
    result: ApplyResult


@dataclass(frozen=True)
class _StatusShown:
    """Every managed job's status, and the providers that could not be read."""

    statuses: list[JobStatus]
    incomplete: Sequence[IncompleteProvider]


@dataclass(frozen=True)
class _ImportShown:
    """The spec files an import wrote, and the jobs it skipped."""

    report: ImportReport


@dataclass(frozen=True)
class _ValidShown:
    """What ``reconcile validate`` found: the valid specs, or the problems (then no spec is
    valid), and the warnings said once per run."""

    specs: list[FineTuneSpec]
    problems: Sequence[Diagnostic] = ()
    warnings: Sequence[str] = ()


_Shown = _PlanShown | _ApplyShown | _StatusShown | _ImportShown | _ValidShown


def _render(shown: _Shown, output: str) -> str:
    """The one output dispatch: (kind of result, format) -> its view's text. ``import`` has a
    text view only (it takes no ``--output``); ``validate`` has text, JSON and GitHub
    annotations, and its text problems go to stderr (``_report_invalid``) instead."""
    views: dict[str, Callable[[], str]]
    # Each branch imports its own view, like the library in each command: `reconcile --help`
    # loads none, and a command only the views it shows.
    if isinstance(shown, _PlanShown):
        from reconciler.planfile import plan_to_json
        from reconciler.views import plan as plan_view

        colour = _colour_wanted(sys.stdout)
        views = {
            "text": lambda: plan_view.render_text(
                shown.plan,
                color=colour,
                relative_to=shown.root,
                show_unchanged=shown.show_unchanged,
            ),
            "markdown": lambda: plan_view.render_markdown(shown.plan, relative_to=shown.root),
            "json": lambda: plan_to_json(shown.plan) if shown.json is None else shown.json,
        }
    elif isinstance(shown, _ApplyShown):
        from reconciler.views import apply_report

        # The text and markdown views follow the plan shown before them, after a blank line.
        views = {
            "text": lambda: "\n" + apply_report.render_result_text(shown.result),
            "markdown": lambda: "\n" + apply_report.render_result_markdown(shown.result),
            "json": lambda: apply_report.render_apply_json(shown.plan, shown.result),
        }
    elif isinstance(shown, _StatusShown):
        from reconciler.views import status as status_view

        views = {
            "text": lambda: status_view.render_status_text(shown.statuses, shown.incomplete),
            "markdown": lambda: status_view.render_status_markdown(
                shown.statuses, shown.incomplete
            ),
            "json": lambda: status_view.render_status_json(shown.statuses, shown.incomplete),
        }
    elif isinstance(shown, _ImportShown):
        from reconciler.views import import_report

        views = {"text": lambda: import_report.render_report(shown.report)}
    elif isinstance(shown, _ValidShown):
        from reconciler.views import validation

        found = (shown.specs, shown.problems, shown.warnings)
        views = {
            "text": lambda: validation.render_valid(shown.specs),
            "json": lambda: validation.render_json(*found),
            "github": lambda: validation.render_github(*found),
        }
    else:
        assert_never(shown)
    return views[output]()


def _colour_wanted(stream: TextIO) -> bool:
    """The one decision on colour: only on a terminal, and never when ``NO_COLOR`` is set to
    anything but the empty string (https://no-color.org: "present and not an empty string")."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _show(shown: _Shown, output: str = "text") -> None:
    """``shown`` in ``output``'s format on stdout."""
    click.echo(_render(shown, output), nl=False)


def _has_errors(plan: Plan) -> bool:
    """A provider not fully read, or a change that will not be applied, is an error (exit 1)."""
    return bool(plan.incomplete) or plan.summary.blocked > 0


@cli.command(
    epilog=_examples(
        "reconcile plan",
        "reconcile plan --sandbox specs/segmind-qwen.yaml",
        "reconcile plan -o markdown > plan.md",
        "reconcile plan --out plan.json     # then: reconcile apply --plan plan.json",
        "reconcile plan --detailed-exitcode # exit 2 when there are changes",
    )
)
@_plan_options
@_target_option
@_show_unchanged_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when the plan has changes (0: none, 1: error).",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Save the plan as JSON, to apply later with `reconcile apply --plan FILE`.",
)
def plan(
    paths: tuple[str, ...],
    detailed_exitcode: bool,
    out_file: str | None,
    show_unchanged: bool,
    **options: Any,
) -> None:
    """Show what a converge would do; send no write request of any kind."""
    from reconciler.planfile import plan_to_json

    choices = _choices(paths, **options)
    with _run(choices) as run:
        reconciliation = run.plan()
    result = reconciliation.plan
    saved = None
    if out_file is not None:
        saved = plan_to_json(result)
        try:
            Path(out_file).write_text(saved, encoding="utf-8")
        except OSError as error:
            _fail(f"{out_file}: cannot write the plan ({error.strerror}); choose another path")
    _show(_PlanShown(result, run.settings.root, show_unchanged, saved), choices.output)
    # Only for people: markdown and json are documents (a pull request comment, a program's
    # input), which a path on the machine that made them would only spoil.
    if out_file is not None and choices.output == "text":
        click.echo(
            f"Saved the plan to {out_file}; apply it with `reconcile apply --plan {out_file}`."
        )
    if _has_errors(result):
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and result.summary.has_changes:
        sys.exit(EXIT_CHANGES)


@cli.command(
    epilog=_examples(
        "reconcile apply                    # the same as: reconcile",
        "reconcile apply specs/segmind-qwen.yaml",
        "reconcile apply --plan plan.json   # exactly the plan saved by plan --out",
        "reconcile apply --prune --auto-approve",
    )
)
@_plan_options
@_parallelism_option
@_target_option
@_show_unchanged_option
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Apply exactly this saved plan (refused when the world moved since it was made).",
)
@click.option(
    "--auto-approve",
    is_flag=True,
    help="Do not ask before creating, replacing or deleting jobs (only a terminal is asked;"
    " CI, pipes and --sandbox never are).",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Wait this long for the writer lease when another apply holds it (default:"
    " lock_timeout in reconciler.yaml, else 0: fail at once, naming the holder).",
)
def apply(
    paths: tuple[str, ...],
    plan_file: str | None,
    auto_approve: bool,
    lock_timeout: float | None,
    show_unchanged: bool,
    **options: Any,
) -> None:
    """Converge: plan, ask on a terminal, take the writer lease, apply (the default command)."""
    from reconciler.apply.converge import DeclinedError, StalePlanError, converge
    from reconciler.apply.writer import WriterUnavailableError
    from reconciler.views.progress import progress_for

    choices = _choices(paths, **options)
    saved = None
    if plan_file is not None:
        overridden = choices.prune is not None or choices.allow_replace or choices.retry_failed
        limits = (choices.max_creates, choices.max_replaces, choices.max_deletes)
        if overridden or choices.targets or any(limit is not None for limit in limits):
            _fail(
                "--prune, --allow-replace, --retry-failed, --target and --max-* cannot be given"
                " with --plan: a saved plan is applied with the options it was made with"
            )
        saved = _read_plan(plan_file)
    saved_options = None if saved is None else (lambda _settings: saved.options)
    for_people = choices.output != "json"
    _echo_lease_messages()
    # Only a person at a terminal is asked; --sandbox spends nothing.
    ask = not auto_approve and not choices.use_sandbox and sys.stdin.isatty()
    with _run(choices, options=saved_options) as run:
        _warn_journal(run, for_people)

        def show(plan: Plan, note: str | None) -> None:
            if for_people:
                if note is not None:
                    click.echo(f"\nreconcile: {note}:\n", err=True)
                _show(_PlanShown(plan, run.settings.root, show_unchanged), choices.output)

        try:
            converged = converge(
                run,
                parallelism=choices.parallelism or run.settings.parallelism,
                progress=progress_for(sys.stderr, for_people=for_people),
                saved=saved,
                approve=_ask_before_spending if ask else None,
                show=show,
                say=lambda text: _say(text) if for_people else None,
                lock_wait=lock_timeout,
            )
        except DeclinedError:
            _fail("apply cancelled: nothing was sent")
        except StalePlanError as error:
            _fail(f"{plan_file}: {error}")
        except WriterUnavailableError as error:
            _fail(str(error))
    current, result = converged.plan, converged.result
    _show(_ApplyShown(current, result), choices.output)
    for incomplete in current.incomplete:
        # A refusal's message was shown once with the plan; this line only names it.
        why = "refuses fine-tuning (see above)" if incomplete.refused else None
        _say(
            f"{incomplete.provider} {why or f'could not be read ({incomplete.error})'};"
            " nothing was changed there"
        )
    if not result.ok or current.incomplete:
        sys.exit(EXIT_ERROR)


def _read_plan(plan_file: str) -> Plan:
    """The plan saved in ``plan_file``; exit 1 with one line naming the file when it cannot
    be read, is not a plan, or was written by a newer reconcile."""
    from reconciler.planfile import PlanFileError, read_plan_file

    try:
        return read_plan_file(Path(plan_file))
    except OSError as error:
        _fail(
            f"{plan_file}: cannot read the plan ({error.strerror or error}); give the file"
            " written by `reconcile plan --out FILE`"
        )
    except UnicodeDecodeError:
        _fail(f"{plan_file}: not a plan file (not UTF-8 text); make the plan again")
    except PlanFileError as error:
        _fail(f"{plan_file}: {error}")


@cli.command(
    epilog=_examples(
        "reconcile show plan.json",
        "reconcile show plan.json -o markdown",
        "reconcile show plan.json --show-unchanged",
    )
)
# A plain path: a missing or unreadable file is said in one line by ``_read_plan``.
@click.argument("plan_file", metavar="PLAN", type=click.Path())
@_output_option
@_show_unchanged_option
def show(plan_file: str, output: str, show_unchanged: bool) -> None:
    """Show a plan saved by `reconcile plan --out PLAN`, as `reconcile plan` showed it."""
    from reconciler.config import find_repo_root

    saved = _read_plan(plan_file)
    if output == "text":
        from reconciler.views.plan import origin_line

        click.echo(origin_line(saved.made_for) + "\n")
    _show(_PlanShown(saved, find_repo_root(), show_unchanged), output)


_ECHO_HANDLER = "reconcile-echo"


def _echo_lease_messages() -> None:
    """Show what the writer lease says while an apply waits for it or cannot renew it, as
    ``reconcile: <message>`` lines on stderr (through click, so that the command line's own
    stderr is the one written to)."""
    # Imported here, like the library: logging would add 7 ms to `reconcile --help`.
    import logging

    lease_log = logging.getLogger("reconciler.lease")
    lease_log.setLevel(logging.INFO)
    if any(handler.name == _ECHO_HANDLER for handler in lease_log.handlers):
        return
    handler = logging.Handler()
    handler.name = _ECHO_HANDLER
    handler.emit = lambda record: _say(handler.format(record))  # type: ignore[method-assign]
    lease_log.addHandler(handler)


def _ask_before_spending(plan: Plan, again: bool) -> bool:
    """Ask the person at the terminal whether to carry out ``plan``; only ``yes`` goes on."""
    from reconciler.apply.converge import spending
    from reconciler.core.action import Action

    counts = dict.fromkeys((Action.CREATE, Action.REPLACE, Action.DELETE), 0)
    for action, _, _ in spending(plan):
        counts[action] += 1
    trains = counts[Action.CREATE] + counts[Action.REPLACE]
    lead = "The plan changed. " if again else ""
    click.echo(
        f"\n{lead}Do you want to apply this plan? It starts {trains} paid training"
        f"{'s' if trains != 1 else ''} ({counts[Action.CREATE]} to create,"
        f" {counts[Action.REPLACE]} to replace) and deletes {counts[Action.DELETE]}"
        f" job{'s' if counts[Action.DELETE] != 1 else ''}.\n"
        "  Only 'yes' will be accepted to go on.",
        err=True,
    )
    try:
        answer = click.prompt("  Enter a value", default="", show_default=False, err=True)
    except click.exceptions.Abort:
        return False
    return str(answer).strip() == "yes"


def _warn_journal(run: Run, for_people: bool) -> None:
    """Say (on stderr) when the journal of recent writes could not be read for the plan."""
    _, problem = run.recent_writes()
    if problem is not None and for_people:
        _say(
            f"warning: {problem}; this plan may show creates that another apply"
            " sent moments ago (an apply reads it again under the writer lease)"
        )


@cli.command(
    epilog=_examples(
        "reconcile status",
        "reconcile status --sandbox -o json",
        "reconcile status --wait --timeout 7200   # until every job is Healthy (exit 0)",
        "reconcile apply --auto-approve && reconcile status --wait -o json > status.json",
    )
)
@_paths_argument
@_output_option
@_sandbox_option()
@click.option(
    "--wait",
    is_flag=True,
    help="Poll until every job is Healthy (exit 0); exit 1 as soon as one fails, or at"
    " --timeout. Sends the notifications of reconciler.yaml's notify: block.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="With --wait: give up after this long, naming the jobs not done (default: no limit).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=None,
    metavar="SECONDS",
    help="With --wait: seconds between looks (default: 15).",
)
def status(
    paths: tuple[str, ...],
    output: str,
    use_sandbox: bool,
    wait: bool,
    timeout: float | None,
    interval: float | None,
) -> None:
    """Every managed job: sync (Synced/OutOfSync), health and outputs (model id, weights URL,
    slug). Exit 1 when a job failed or a provider could not be read."""
    from reconciler.status import status_exit_code

    # Sync is the specs against the remote, whatever an apply's policy: none of --prune (jobs
    # no spec names are not shown), --allow-replace (a replace is OutOfSync, allowed or not),
    # --retry-failed (a failed job is Degraded either way), --max-* or --parallelism would
    # change what status shows, so it takes none of them.
    choices = _Choices(
        paths=[Path(p) for p in paths],
        output=output,
        prune=False,
        allow_replace=False,
        retry_failed=False,
        parallelism=None,
        use_sandbox=use_sandbox,
    )
    if (timeout is not None or interval is not None) and not wait:
        _fail("--timeout and --interval only act with --wait")
    from reconciler.waiting import DEFAULT_WAIT_INTERVAL, read_status

    with _run(choices) as run:
        if wait:
            sys.exit(_wait_for_jobs(run, choices, timeout, interval or DEFAULT_WAIT_INTERVAL))

        report = read_status(run)
    _show(_StatusShown(report.statuses, report.unread), choices.output)
    sys.exit(status_exit_code(report.statuses, report.unread))


def _wait_for_jobs(run: Run, choices: _Choices, timeout: float | None, interval: float) -> int:
    """``status --wait``: rounds until done, failed or timed out, each round's notifications
    sent and its progress said on stderr; the last round shown. The exit code."""
    from reconciler.notify import Notifier, RunInfo
    from reconciler.specs.cache import state_dir
    from reconciler.waiting import StatusReport, WaitEnd, wait_for_jobs

    notifier = Notifier.for_settings(
        run.settings,
        state_dir(run.settings),
        sandbox=choices.use_sandbox,
        warn=lambda text: _say(f"warning: {text}"),
        environ=os.environ,
    )
    info = RunInfo("status --wait", sandbox=choices.use_sandbox)

    def on_round(report: StatusReport) -> None:
        if notifier is not None:
            notifier.jobs(report.statuses, info, {u.provider for u in report.unread})
        done = len(report.statuses) - len(report.not_done)
        unread = f"; {len(report.unread)} not read" if report.unread else ""
        _say(f"waiting: {done} of {len(report.statuses)} jobs healthy{unread}")

    try:
        result = wait_for_jobs(run, timeout=timeout, interval=interval, on_round=on_round)
    finally:
        if notifier is not None:
            notifier.close()
    report = result.report
    _show(_StatusShown(report.statuses, report.unread), choices.output)
    if result.end is WaitEnd.DONE:
        _say(f"done: every job is healthy ({len(report.statuses)})")
        return EXIT_OK
    if result.end is WaitEnd.FAILED:
        failed = ", ".join(f"{s.provider}/{one_line(s.name)}" for s in report.failed)
        _say(f"failed: {failed}")
        return EXIT_ERROR
    not_done = ", ".join(
        f"{s.provider}/{one_line(s.name)} ({s.health.value})" for s in report.not_done
    )
    unread = ", ".join(sorted({u.provider for u in report.unread}))
    _say(
        f"timed out after {timeout or 0:g} s; not done: {not_done or 'none'}"
        + (f"; not read: {unread}" if unread else "")
    )
    return EXIT_ERROR


@cli.command(
    epilog=_examples(
        "reconcile --watch                  # the same as: reconcile watch",
        "reconcile watch --pull --interval 300",
        "reconcile watch --listen 0.0.0.0:8080 --log-format json",
    )
)
@_paths_argument
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds between resyncs, jittered (default: watch_interval in reconciler.yaml);"
    " jobs still training are polled four times as often.",
)
@_change_options
@_parallelism_option
@_sandbox_option()
@click.option(
    "--pull",
    is_flag=True,
    help="`git pull --ff-only` the checkout at start, before each resync and on a webhook; a"
    " commit it brings is applied by the same run.",
)
@click.option(
    "--worktree",
    is_flag=True,
    help="In a git checkout, apply saved (uncommitted) files too, after --quiet-period, not"
    " only commits. Outside git it changes nothing: saved files are what is applied there.",
)
@click.option(
    "--quiet-period",
    type=click.FloatRange(min=0),
    default=15.0,
    show_default=True,
    metavar="SECONDS",
    help="Outside git (or with --worktree), apply saved files only once none changed for"
    " this long, so that an editor's intermediate saves never start a training.",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default=None,
    help="Serve /healthz, /metrics and /webhook there (off by default).",
)
@click.option(
    "--webhook-spacing",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="Runs asked for by webhooks start at least this far apart; deliveries in between"
    " become one run.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event on stderr, for people or for log shippers.",
)
def watch(paths: tuple[str, ...], log_format: str, **options: Any) -> None:
    """The daemon: apply every commit (in a git checkout; saved edits are only previewed),
    resync on a timer and on webhooks."""
    from reconciler.watch import WatchOptions, run_watch

    spacing = click.get_current_context().get_parameter_source("webhook_spacing")
    if options["listen"] is None and spacing is click.core.ParameterSource.COMMANDLINE:
        _fail(
            "--webhook-spacing spaces out the runs webhooks ask for, and webhooks come in only"
            " with --listen HOST:PORT: add --listen, or leave --webhook-spacing out"
        )
    gc.set_threshold(*_GC_DEFAULT_THRESHOLD)  # it runs for weeks: back to the defaults

    watch_options = WatchOptions(paths=tuple(Path(p) for p in paths), **options)
    sys.exit(run_watch(watch_options, "json" if log_format == "json" else "text"))


@cli.command(
    epilog=_examples(
        "reconcile validate",
        "reconcile validate specs/segmind-qwen.yaml",
        "reconcile validate -o json",
        "reconcile validate -o github       # annotations in a GitHub Actions job",
    )
)
@_paths_argument
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="How to show problems: for people (on stderr), for machines (JSON on stdout), or as"
    " GitHub Actions annotations on the files of a pull request (on stdout).",
)
def validate(paths: tuple[str, ...], output: str) -> None:
    """Check specs and their datasets offline (no network). Default PATH: specs/.

    Exit 0 when every spec is valid, 1 when any problem is found (whatever the output).
    """
    from reconciler.core.diagnostics import InvalidInputError
    from reconciler.specs import load_specs

    try:
        specs = load_specs([Path(p) for p in paths])
    except InvalidInputError as error:
        if output == "text":
            _report_invalid(error)
        _show(_ValidShown([], problems=error.diagnostics), output)
        sys.exit(EXIT_ERROR)
    warnings = []
    if any(spec.provider == "cohere" for spec in specs):
        # Once per run, however many Cohere specs: the API may refuse them any day.
        from reconciler.providers.cohere.deprecation import VALIDATE_WARNING

        warnings.append(VALIDATE_WARNING)
    if output == "text":
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
    _show(_ValidShown(specs, warnings=warnings), output)


@cli.command(
    "import",
    epilog=_examples(
        "reconcile import --provider segmind",
        "reconcile import --provider cohere --match '^support-' --out specs/adopted",
        "reconcile import --provider qubrid --sandbox",
    ),
)
@click.option(
    "--provider",
    required=True,
    type=_ProviderChoice(),
    help="The provider whose existing jobs to adopt.",
)
@click.option(
    "--match",
    metavar="REGEX",
    default=None,
    help="Import only jobs whose spec name matches REGEX (searched anywhere in the name).",
)
@click.option(
    "--out",
    "out_dir",
    default="specs/imported",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder to write <name>.yaml into; existing files are never overwritten.",
)
@_sandbox_option("Import from")
def import_(provider: str, match: str | None, out_dir: str, use_sandbox: bool) -> None:
    """Write a spec for each job that already exists on a provider (adoption)."""
    from reconciler.core.diagnostics import InvalidInputError
    from reconciler.importer import ImportRefusedError
    from reconciler.importer.command import import_jobs

    try:
        report = import_jobs(provider, out_dir=Path(out_dir), match=match, use_sandbox=use_sandbox)
    except InvalidInputError as error:
        _report_invalid(error)
    except ImportRefusedError as error:
        _fail(str(error))
    _show(_ImportShown(report))


@cli.command(
    epilog=_examples(
        "reconcile schema",
        "reconcile schema config",
        "reconcile schema --out schemas/finetune.schema.json",
    )
)
@click.argument("which", type=click.Choice(["spec", "config"]), default="spec")
@click.option(
    "--out",
    metavar="FILE",
    default=None,
    type=click.Path(),
    help="Write the schema to FILE (or into a folder) instead of printing it; an older copy"
    " is replaced.",
)
def schema(which: str, out: str | None) -> None:
    """Print the JSON Schema of specs (spec) or of reconciler.yaml (config), or write it.

    \b
    Example, for editors in your repository (see docs/specs.md):
      reconcile schema --out schemas/finetune.schema.json
    then begin each spec in specs/ with
      # yaml-language-server: $schema=../schemas/finetune.schema.json
    """
    from reconciler.yamlio.schema_files import SCHEMA_NAMES, schema_path, write_schema

    name = SCHEMA_NAMES[which]
    if out is None:
        click.echo(schema_path(name).read_text(encoding="utf-8"), nl=False)
        return
    try:
        written = write_schema(name, out)
    except OSError as error:
        _fail(f"cannot write {out}: {error.strerror or error}")
    click.echo(f"wrote {written}")


@cli.command(
    epilog=_examples(
        "reconcile sandbox",
        "reconcile sandbox --port 0 --speed 600 --data /tmp/sandbox",
        "reconcile sandbox --variant qubrid.offset=ignored",
        "reconcile sandbox --speed 1 --latency cohere.datasets=4",
    )
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0 picks a free port.",
)
@click.option(
    "--data",
    "data_dir",
    default=".reconcile/sandbox",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the sandbox's SQLite state.",
)
@click.option(
    "--speed",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Simulated seconds per real second for job progress.",
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    metavar="PROVIDER.NAME=VALUE",
    help="Answer an open question of the provider documents another way, e.g."
    " qubrid.offset=ignored (repeatable; GET /_sandbox/variants lists them).",
)
@click.option(
    "--latency",
    "latencies",
    multiple=True,
    metavar="PROVIDER.KIND=SECONDS",
    help="How long a kind that settles by itself takes, in simulated seconds, e.g."
    " cohere.datasets=4 for Cohere's dataset validation (repeatable; GET /_sandbox/latencies"
    " lists them).",
)
def sandbox(
    host: str,
    port: int,
    data_dir: str,
    speed: float,
    variants: tuple[str, ...],
    latencies: tuple[str, ...],
) -> None:
    """Serve the embedded Segmind/Qubrid/Cohere emulator until interrupted."""
    _require_sandbox("the sandbox command")
    # Imported here: an optional distribution, checked just above.
    from reconcile_sandbox.app import SandboxConfig
    from reconcile_sandbox.latencies import LatencyError, split_latency
    from reconcile_sandbox.server import serve_forever
    from reconcile_sandbox.variants import VariantError, split_variant

    gc.set_threshold(*_GC_DEFAULT_THRESHOLD)  # it serves until stopped: back to the defaults
    try:
        chosen = dict(split_variant(text) for text in variants)
        settle = dict(split_latency(text) for text in latencies)
        config = SandboxConfig(
            data_dir=Path(data_dir), speed=speed, variants=chosen, latencies=settle
        )
        serve_forever(config, host=host, port=port)
    except VariantError as error:
        _fail(f"--variant {error}")
    except LatencyError as error:
        _fail(f"--latency {error}")
    except OSError as error:
        from reconciler.binding import cannot_listen, is_bind_error

        if is_bind_error(error):
            _fail(cannot_listen(f"{host}:{port}", error, "--host and --port (0: a free port)"))
        if error.filename is None:
            raise
        _fail(f"{error.filename}: {error.strerror}; choose another folder with --data")


@cli.command(
    epilog=_examples(
        'eval "$(reconcile completion bash)"     # in ~/.bashrc',
        'eval "$(reconcile completion zsh)"      # in ~/.zshrc, after compinit',
        "reconcile completion fish | source     # in ~/.config/fish/config.fish",
    )
)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (commands, options, choices).

    Load it from your shell's start-up file; docs/usage.md has the line for each shell.
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # click has bash, zsh and fish, the choices above
    # The variable click's completion answers on: _<PROG>_COMPLETE for prog `reconcile`.
    script = completer(cli, {}, "reconcile", "_RECONCILE_COMPLETE").source()
    click.echo(script)


@cli.command(epilog=_examples("reconcile version", "reconcile version -o json"))
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="For people, or for machines.",
)
def version(output: str) -> None:
    """Print reconcile's version, the Python running it and the platform (for bug reports)."""
    import json
    import platform

    facts = {
        "version": __version__,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
    if output == "json":
        click.echo(json.dumps(facts, indent=2, sort_keys=True))
        return
    click.echo(
        f"reconcile {facts['version']}\n"
        f"Python {facts['python']} ({facts['implementation']})\n"
        f"Platform {facts['platform']}"
    )


def _tune_interpreter() -> None:
    """Three interpreter settings for a command-line run, each measured on a large dry run
    (``bench/bench_plan.py``: 1,000 specs, 10,000 listed jobs):

    - A command builds tens of thousands of objects that live until it exits (modules, specs,
      listed jobs, the plan), and Python's default of a collection every 700 allocations
      re-scans them over and over to find nothing. Young objects are collected every 10,000
      allocations instead (cycles still are); ``watch`` and ``sandbox``, which run until
      stopped, go back to the defaults.
    - Most of a run is threads waiting on the network beside one thread working (loading
      specs, reading lists, diffing). A thread whose answer has come in gets the interpreter
      back within a millisecond instead of five, so the next request goes out sooner.
    - At exit the interpreter collects garbage once more over everything still alive, only
      for the process to end; objects frozen at exit are left out of it. Nothing here needs
      that collection: files and connections are closed where they are used.
    """
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *_GC_DEFAULT_THRESHOLD[1:])
    sys.setswitchinterval(_THREAD_SWITCH_SECONDS)
    atexit.unregister(gc.freeze)  # once, however often main() runs in one process
    atexit.register(gc.freeze)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: no traceback ever reaches the user unless asked for."""
    _tune_interpreter()
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="reconcile",
            standalone_mode=False,
        )
    except click.ClickException as error:
        # Usage errors exit 1 like every other error: 2 means "changes present".
        error.show()
        sys.exit(EXIT_ERROR)
    except click.exceptions.Abort:
        _fail("aborted")
    except KeyboardInterrupt:
        click.echo("reconcile: interrupted", err=True)
        sys.exit(130)
    except Exception as error:  # the last line of defence; each command handles its own errors
        if os.environ.get("RECONCILE_DEBUG"):
            raise
        from reconciler.providers.profiles import key_variables
        from reconciler.redact import redact, register_secret

        # An unexpected error's text may quote a URL, a header or a key: scrub it.
        for variable in key_variables():
            register_secret(os.environ.get(variable))
        _fail(
            redact(f"internal error: {type(error).__name__}: {error}")
            + " (set RECONCILE_DEBUG=1 to see where, and please report it)"
        )
    sys.exit(code if isinstance(code, int) else EXIT_OK)
