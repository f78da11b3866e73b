"""Readings of the providers' open questions: which way the sandbox answers where the documents
leave a question open.

A provider declares its variants (``Provider.variants``: name -> the values it can take, the
first one the default, the reading the client was written to). The sandbox starts with the
defaults, or with the values its ``SandboxConfig.variants`` names (``reconcile sandbox --variant
qubrid.offset=ignored``); the control API changes them while it runs (``PUT
/_sandbox/variants``), and a reset of a provider brings its variants back to where the sandbox
started. A route asks ``SandboxContext.variant(name)`` for its provider's current value.

Where the documents settle a question there is no variant: the sandbox follows them strictly.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from reconcile_sandbox.provider import Provider


class VariantError(ValueError):
    """A variant the sandbox does not know, or a value it cannot take (the message lists what
    it can)."""


def split_variant(text: str) -> tuple[str, str]:
    """``"qubrid.offset=ignored"`` -> ``("qubrid.offset", "ignored")``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise VariantError(
            f"{text!r}: a variant is PROVIDER.NAME=VALUE, e.g. qubrid.offset=ignored"
        )
    return name.strip(), value.strip()


class VariantBook:
    """The current value of every variant, by ``provider.name``; safe across threads."""

    def __init__(self, providers: Sequence[Provider], start: Mapping[str, str]) -> None:
        self._allowed: dict[str, tuple[str, ...]] = {
            f"{provider.name}.{name}": values
            for provider in providers
            for name, values in provider.variants.items()
        }
        for key, values in self._allowed.items():
            if not values:
                raise ValueError(f"variant {key} declares no values")
        self._lock = threading.Lock()
        self._start = {key: values[0] for key, values in self._allowed.items()}
        for key, value in start.items():
            self._check(key, value)
            self._start[key] = value
        self._current = dict(self._start)

    def _check(self, key: str, value: str) -> None:
        allowed = self._allowed.get(key)
        if allowed is None:
            known = ", ".join(sorted(self._allowed)) or "none"
            raise VariantError(f"no variant {key!r}; this sandbox has: {known}")
        if value not in allowed:
            raise VariantError(f"{key} cannot be {value!r}; it can be: {', '.join(allowed)}")

    def value(self, key: str) -> str:
        """The current value of variant ``key`` (``provider.name``)."""
        with self._lock:
            return self._current[key]

    def set(self, values: Mapping[str, str]) -> None:
        """Take all of ``values`` (``provider.name`` -> value), or none of them when one is
        unknown (``VariantError``)."""
        for key, value in values.items():
            self._check(key, value)
        with self._lock:
            self._current.update(values)

    def reset(self, provider: str | None = None) -> None:
        """Back to the values the sandbox started with (one provider's, or all)."""
        with self._lock:
            for key, value in self._start.items():
                if provider is None or key.startswith(f"{provider}."):
                    self._current[key] = value

    def describe(self) -> dict[str, dict[str, object]]:
        """Every variant: its current value, its default and what it can be."""
        with self._lock:
            return {
                key: {"value": self._current[key], "default": values[0], "allowed": list(values)}
                for key, values in sorted(self._allowed.items())
            }
