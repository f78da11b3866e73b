"""The readings of a provider's open questions the contract suite holds its client to.

Where the documents leave a question open, the sandbox can answer each plausible way (its
*variants*, ``Provider.variants``: a name and its values, the first the default). The protocol
suite runs each test once under the defaults and once under every other value of every variant
of the harness's provider, one variant at a time, read from the sandbox's own providers
(``load_providers()``): a variant added to an emulator later is covered without editing the
suite.

Some readings make a promise impossible by design. ``NOT_UNDER`` is the one table of them: per
reading, the tests it cannot run and why. Those tests are parametrised over the other readings
(never skipped). Where a promise holds in a weaker, documented form, the test is not excluded
but reads it in that form (``Reading.create_answer_has_no_id``,
``Reading.deleted_models_stay_listed``, ``Reading.refuses_finetuning``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from reconcile_sandbox.app import load_providers


@dataclass(frozen=True)
class Reading:
    """One provider's variants as a test runs under them: every default (``settings`` empty),
    or some variants (one, as a rule) set to one of their other values."""

    provider: str
    # (variant, value) pairs, the variant as the provider names it (``offset``).
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        """The test id: ``qubrid`` for the defaults, ``qubrid[offset=ignored]`` otherwise."""
        if not self.settings:
            return self.provider
        return f"{self.provider}[{','.join(f'{name}={value}' for name, value in self.settings)}]"

    def variants(self) -> dict[str, str]:
        """What to set on the sandbox (after its reset) for this reading."""
        return {f"{self.provider}.{name}": value for name, value in self.settings}

    @property
    def create_answer_has_no_id(self) -> bool:
        """A create answered 204 No Content: the job is made, but its id is not in the answer,
        so ``create()`` raises ``OutcomeUnknownError`` and the job is found on the lists
        (docs/providers.md, "Every provider")."""
        return ("create_status", "204") in self.settings

    @property
    def deleted_models_stay_listed(self) -> bool:
        """Qubrid without a models list (``models_route=missing``): a completed job whose model
        was deleted still shows as completed, so a prune plans its delete again, and that
        delete finds the model gone and is done (docs/providers.md, "Qubrid")."""
        return ("models_route", "missing") in self.settings

    @property
    def refuses_finetuning(self) -> bool:
        """Cohere switched fine-tuning off (``finetuning=deprecated``): every list is refused,
        so an observation is incomplete and says why, once (docs/providers.md, "Cohere")."""
        return ("finetuning", "deprecated") in self.settings


@cache
def readings_of(
    provider: str, together: tuple[tuple[tuple[str, str], ...], ...] = ()
) -> tuple[Reading, ...]:
    """The defaults, then each other value of each variant the sandbox's ``provider`` declares
    alone (by name, then value in declared order), then each set of readings ``together``; the
    defaults alone for a provider the sandbox does not emulate."""
    declared: dict[str, tuple[str, ...]] = {}
    for emulated in load_providers():
        if emulated.name == provider:
            declared = dict(emulated.variants)
    found = [Reading(provider)]
    for variant, values in sorted(declared.items()):
        found.extend(Reading(provider, ((variant, value),)) for value in values[1:])
    for settings in together:
        for variant, value in settings:
            if value not in declared.get(variant, ())[1:]:
                raise ValueError(f"{provider}.{variant}={value} is no other reading it declares")
        found.append(Reading(provider, settings))
    return tuple(found)


_NEEDS_FINETUNING = (
    "Cohere answers every fine-tuning call 410 Gone and refuses fine-tuning dataset types: no "
    "job can be listed, uploaded or created. The one clear refusal is held in "
    "tests/contract/quirks/test_cohere_readings.py and tests/e2e/test_e2e_cohere_deprecated.py"
)

_NEEDS_FINETUNING_WRITES = (
    "Cohere still lists fine-tuned models and datasets but answers every fine-tuning write 410 "
    "Gone and refuses fine-tuning dataset types: no job can be uploaded or created, so no test "
    "that starts from a created job can hold (the empty account, the wrong key and close still "
    "run). The one clear refusal is held in tests/contract/quirks/test_cohere_readings.py, "
    "tests/unit/apply/test_executor.py and tests/e2e/test_e2e_cohere_deprecated_writes.py"
)

# The protocol tests that need a job created on the provider.
_CREATING = frozenset(
    {
        "test_a_created_job_is_observed_under_its_spec_s_name_owner_and_marker",
        "test_observing_after_a_create_converges",
        "test_one_client_serves_several_threads",
        "test_a_finished_job_is_healthy_and_still_converged",
        "test_an_uploaded_dataset_is_reused_rather_than_uploaded_again",
        "test_an_access_update_is_observed_and_converges",
        "test_a_delete_leaves_the_job_as_the_profile_plans",
        "test_a_finished_job_is_deleted_as_the_profile_plans",
        "test_a_provider_without_delete_is_told_so_in_the_plan",
    }
)

# reading id -> (the protocol tests that cannot hold under it, why). Every other protocol test
# runs under it.
NOT_UNDER: dict[str, tuple[frozenset[str], str]] = {
    "cohere[finetuning=deprecated]": (_CREATING, _NEEDS_FINETUNING),
    "cohere[finetuning=deprecated-writes]": (_CREATING, _NEEDS_FINETUNING_WRITES),
}


def runs_under(test: str, reading: Reading) -> bool:
    """Whether protocol test ``test`` (its function's name) holds under ``reading``."""
    excluded, _reason = NOT_UNDER.get(reading.id, (frozenset(), ""))
    return test not in excluded
