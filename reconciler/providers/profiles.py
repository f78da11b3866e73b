"""``PROFILES``: the profile of every provider, by name, in the order plans list them.

It holds exactly the providers of ``reconciler.core.spec.Provider``
(``tests/unit/providers/test_profiles.py`` proves it), so code that needs a provider's facts
looks its profile up here instead of asking which provider it is. Light: the profiles are
values, with no adapter behind them (``.importlinter``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.spec import Provider
from reconciler.providers.cohere.profile import COHERE
from reconciler.providers.profile import ProviderProfile
from reconciler.providers.qubrid.profile import QUBRID
from reconciler.providers.segmind.profile import SEGMIND

PROFILES: Mapping[Provider, ProviderProfile[Any]] = {
    "segmind": SEGMIND,
    "qubrid": QUBRID,
    "cohere": COHERE,
}


def key_variables() -> tuple[str, ...]:
    """Every environment variable a key of some provider (or of a service one is handed) is
    read from."""
    return tuple(
        variable
        for profile in PROFILES.values()
        for variable in (*profile.key_variables, *profile.service_key_variables.values())
    )
