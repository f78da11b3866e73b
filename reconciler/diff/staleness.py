"""What moved since a saved plan was made: the reasons ``apply --plan`` gives for refusing it.

A saved plan records what it was made for (``PlanOrigin``: the sandbox or the providers'
hosts, and the spec paths) and a short hash per item its snapshot covers
(``Plan.snapshot_items``). Comparing them with the run that applies it says exactly what
moved: "made for the sandbox, applied against the providers at api.segmind.com", "the spec
segmind mascot-v1 changed", "the remote job seg-7 (team--mascot-v1) changed". Pure: values in,
sentences out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.core.plan import PlanOrigin

# At most this many reasons are said; the rest are counted.
MAX_REASONS = 5


def target_phrase(origin: PlanOrigin, none: str = "none") -> str:
    """What ``origin`` is for, as said here and by ``reconcile show``: ``the sandbox
    (--sandbox)``, or its providers' hosts (``cohere at api.cohere.com, segmind at
    api.segmind.com``; ``none`` when it names none)."""
    if origin.sandbox:
        return "the sandbox (--sandbox)"
    return ", ".join(f"{provider} at {host}" for provider, host in origin.hosts) or none


def paths_phrase(paths: Iterable[str]) -> str:
    """The spec paths, space-separated, or ``(none)``."""
    return " ".join(paths) or "(none)"


def target_moved(saved: PlanOrigin | None, now: PlanOrigin) -> str | None:
    """Why a plan made for ``saved`` cannot be applied against ``now`` (the sandbox against the
    real providers, or one provider's host against another's), or ``None`` when the target is
    the same or was not recorded."""
    if saved is None:
        return None
    if saved.sandbox != now.sandbox:
        made, against = target_phrase(saved), target_phrase(now)
        return f"it was made for {made}, and is applied against {against}"
    was, applied = dict(saved.hosts), dict(now.hosts)
    moved = [
        f"it was made for {provider} at {was[provider]}, and is applied against {provider} at"
        f" {applied[provider]}"
        for provider in sorted(was.keys() & applied.keys())
        if was[provider] != applied[provider]
    ]
    return "; ".join(moved) or None


def paths_moved(saved: PlanOrigin | None, now: PlanOrigin) -> str | None:
    """``it was made for paths specs/a.yaml, and is now run for specs`` when the spec paths
    differ (``None`` when they do not, or were not recorded)."""
    if saved is None or sorted(saved.paths) == sorted(now.paths):
        return None
    return (
        f"it was made for paths {paths_phrase(saved.paths)}, and is now run for"
        f" {paths_phrase(now.paths)}"
    )


def _split(key: str) -> tuple[str, str, str]:
    """An item key's kind, provider and the rest (``job segmind seg-7 team--x``)."""
    kind, _, rest = key.partition(" ")
    provider, _, what = rest.partition(" ")
    return kind, provider, what


def _item(key: str) -> str:
    """The item a key names, as a sentence names it."""
    kind, provider, what = _split(key)
    if kind in ("job", "dataset"):
        remote_id, _, name = what.partition(" ")
        return f"{name} ({provider} {remote_id})" if name else f"{provider} {remote_id}"
    if kind == "recent":
        return f"{provider} {what.rpartition(' ')[0]}"  # without the moment it was sent
    return f"{provider} {what}".strip()


# What to say of an item of each kind that changed, is gone, or appeared (None: nothing, as
# for a spec's dataset that comes and goes with its spec).
_SENTENCES: dict[str, tuple[str, str | None, str | None]] = {
    "options": ("the plan options changed", None, None),
    "provider": (
        "the {provider} list was read completely one time and not the other",
        "{provider} was listed then and is not now",
        "{provider} is listed now and was not then",
    ),
    "spec": (
        "the spec {item} changed",
        "the spec {item} is no longer planned",
        "the spec {item} is planned now and was not then",
    ),
    "spec-dataset": ("the dataset of spec {item} changed", None, None),
    "job": (
        "the remote job {item} changed",
        "the remote job {item} is gone",
        "a remote job appeared: {item}",
    ),
    "dataset": (
        "the remote dataset {item} changed",
        "the remote dataset {item} is gone",
        "a remote dataset appeared: {item}",
    ),
    "recent": (
        "an earlier write of {item} settled",
        "an earlier write of {item} settled",
        "another apply wrote {item} since",
    ),
}


def _sentence(key: str, which: int) -> str | None:
    kind, provider, _ = _split(key)
    changed = f"{kind} {{item}} changed"
    template = _SENTENCES.get(kind, (changed, changed, changed))[which]
    return None if template is None else template.format(provider=provider, item=_item(key))


def items_moved(saved: Iterable[tuple[str, str]], now: Iterable[tuple[str, str]]) -> list[str]:
    """What differs between the items a plan was made from and those of now, one sentence
    each: a spec, its dataset, a remote job or dataset that changed, appeared or is gone. A
    spec's dataset added or removed with its spec is said once, with the spec."""
    was: Mapping[str, str] = dict(saved)
    is_: Mapping[str, str] = dict(now)
    reasons: list[str] = []
    for key in sorted(was.keys() | is_.keys()):
        if key in was and key in is_:
            if was[key] != is_[key]:
                reasons.append(_sentence(key, 0) or key)
            continue
        reason = _sentence(key, 1 if key in was else 2)
        if reason is not None:
            reasons.append(reason)
    return reasons


def stale_message(reasons: list[str]) -> str:
    """The refusal of a stale plan, saying what moved (at most ``MAX_REASONS`` of it)."""
    shown = reasons[:MAX_REASONS]
    more = len(reasons) - len(shown)
    moved = "; ".join(shown) + (f"; and {more} more" if more else "")
    return (
        f"the saved plan is stale: {moved}; make a new plan with `reconcile plan --out FILE`,"
        " review it, and apply that"
    )
