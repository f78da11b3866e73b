"""Status codes, every provider, over real HTTP against the sandbox (issue 13, "Status codes").

The documents give one success status per request, and none is verified against the live
services. The client takes any 2xx as success; a create answered 2xx with nothing readable (or
nothing at all, a 204) is an unknown outcome, never "not JSON" and never sent again blindly; a
409 is retried where the provider's official SDK retries it (Cohere's, twice) and nowhere else;
a FastAPI-style 422 is reported with the fields it names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.core.action import Action
from reconciler.core.plan import Change, DeleteMethod
from reconciler.core.spec import DesiredJob
from reconciler.diff import identify_jobs
from reconciler.providers.base import (
    OutcomeUnknownError,
    PermanentError,
    ProviderClient,
    RetryableError,
)
from reconciler.providers.cohere.adapter import CohereClient
from reconciler.providers.http import RetryPolicy
from reconciler.providers.qubrid.adapter import QubridClient
from reconciler.providers.segmind.adapter import SegmindClient
from tests.support.cohere import ValidationClock
from tests.support.providers import (
    assert_no_secret,
    chat_jsonl,
    cohere_settings,
    desired_for,
    image_folder,
    qa_csv,
    qubrid_settings,
    requests_made,
    segmind_settings,
    spec,
    upload_for,
)

ProviderName = Literal["segmind", "qubrid", "cohere"]
PROVIDERS: tuple[ProviderName, ...] = ("segmind", "qubrid", "cohere")


@dataclass(frozen=True)
class Case:
    """One provider: its client, a job to create, and the path of its create."""

    provider: ProviderName
    client: ProviderClient
    desired: DesiredJob
    create_path: str

    def create(self) -> str:
        return self.client.create(self.desired, self.dataset())

    def dataset(self) -> str:
        return self.client.upload_dataset(upload_for(self.desired), self.desired)

    def creates(self, sandbox: RunningSandbox) -> int:
        return requests_made(sandbox, "POST", self.create_path)

    def jobs(self) -> list[str]:
        observation = self.client.observe()
        assert observation.complete, observation.error
        # Qubrid jobs carry no name: the diff names them through their dataset's marker.
        named = identify_jobs(observation)
        return [job.remote_id for job in named if job.name == self.desired.spec.name]


def make_case(
    provider: ProviderName, sandbox: RunningSandbox, retry: RetryPolicy, root: Path
) -> Case:
    if provider == "segmind":
        desired = desired_for(
            spec(
                "segmind",
                "status-flux-pro",
                image_folder(root),
                base_model="FLUX_PRO",
                trigger_word="TOK",
                instance_prompt="photo of TOK",
                theme="CHARACTER",
                access="private",
                parameters={"iterations": 300},
            )
        )
        client: ProviderClient = SegmindClient(segmind_settings(sandbox), retry=retry)
        return Case(provider, client, desired, "/segmind/finetune/request/submit")
    if provider == "qubrid":
        desired = desired_for(
            spec(
                "qubrid",
                "status-bot",
                qa_csv(root),
                base_model="Qwen/Qwen3-8B",
                task_type="qa",
                parameters={"epochs": 1},
            )
        )
        client = QubridClient(qubrid_settings(sandbox), retry=retry)
        return Case(provider, client, desired, "/qubrid/api/v1/fine-tuning/jobs")
    desired = desired_for(
        spec(
            "cohere",
            "status-chat",
            chat_jsonl(root),
            base_model="command-r",
            base_type="BASE_TYPE_CHAT",
            dataset_type="chat-finetune-input",
        )
    )
    client = CohereClient(
        cohere_settings(sandbox),
        retry=retry,
        transport=ValidationClock(sandbox),
        poll_seconds=0.01,
        validation_timeout=60.0,
    )
    return Case(provider, client, desired, "/cohere/v1/finetuning/finetuned-models")


@pytest.fixture(params=PROVIDERS)
def case(
    request: pytest.FixtureRequest, sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> Iterator[Case]:
    made = make_case(request.param, sandbox, fast_retry, tmp_path)
    yield made
    made.client.close()


def _create_fault(case: Case, sandbox: RunningSandbox, **rule: Any) -> None:
    sandbox.control.add_fault(method="POST", path=case.create_path, count=1, **rule)


# Any 2xx is a success ---------------------------------------------------------------------


@pytest.mark.parametrize("status", ["200", "201", "202"])
def test_a_create_answered_with_any_success_status_returns_the_new_id(
    case: Case, sandbox: RunningSandbox, status: str
) -> None:
    sandbox.control.set_variants(**{f"{case.provider}.create_status": status})
    dataset = case.dataset()

    job_id = case.client.create(case.desired, dataset)

    assert case.jobs() == [job_id]


def test_a_create_answered_204_is_an_unknown_outcome_and_the_job_is_on_the_list(
    case: Case, sandbox: RunningSandbox
) -> None:
    sandbox.control.set_variants(**{f"{case.provider}.create_status": "204"})
    dataset = case.dataset()

    with pytest.raises(OutcomeUnknownError, match="accepted it"):
        case.client.create(case.desired, dataset)

    assert len(case.jobs()) == 1  # made once; the lists find it
    assert case.creates(sandbox) == 1


@pytest.mark.parametrize(
    "body", ["<html><body>upstream timeout</body></html>", '{"finetuned_model": ', ""]
)
def test_a_create_answered_2xx_with_an_unreadable_body_is_an_unknown_outcome(
    case: Case, sandbox: RunningSandbox, body: str
) -> None:
    dataset = case.dataset()
    _create_fault(case, sandbox, kind="status", status=200, body=body, content_type="text/html")

    with pytest.raises(OutcomeUnknownError) as raised:
        case.client.create(case.desired, dataset)

    assert "not JSON" not in raised.value.message
    assert "list again before retrying" in raised.value.message
    assert len(case.jobs()) == 1
    assert case.creates(sandbox) == 1


def test_an_access_update_answered_204_or_202_succeeds(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    case = make_case("segmind", sandbox, fast_retry, tmp_path)
    assert isinstance(case.client, SegmindClient)
    job_id = case.create()
    for status in (204, 202):
        sandbox.control.add_fault(
            kind="status", method="PUT", path="*/access-update", status=status, count=1
        )
        case.client.update_access(job_id, "public" if status == 204 else "private")
    (job,) = case.client.observe().jobs
    assert job.access == "private"


@pytest.mark.parametrize(
    ("provider", "method", "status"),
    [("qubrid", "CANCEL_JOB", 202), ("qubrid", "DELETE_MODEL", 200), ("cohere", "", 202)],
)
def test_a_delete_answered_with_another_success_status_succeeds(
    sandbox: RunningSandbox,
    fast_retry: RetryPolicy,
    tmp_path: Path,
    provider: ProviderName,
    method: str,
    status: int,
) -> None:
    case = make_case(provider, sandbox, fast_retry, tmp_path)
    job_id = case.create()
    target = job_id
    if method == "DELETE_MODEL":
        sandbox.control.advance("qubrid", "jobs", job_id, to="completed")
        (job,) = case.client.observe().jobs
        assert job.model_id is not None
        target = job.model_id
    sandbox.control.add_fault(kind="status", method="*", path=f"/{provider}/*", status=status)
    change = Change(
        Action.DELETE,
        provider,
        case.desired.spec.name,
        "pruned",
        target_id=target,
        delete_method=DeleteMethod[method] if method else None,
    )
    assert hasattr(case.client, "delete")
    case.client.delete(change)
    sandbox.control.clear_faults()


# 409: retried where the SDK retries it ----------------------------------------------------


def test_cohere_retries_a_409_on_a_create_as_its_sdk_does(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    case = make_case("cohere", sandbox, fast_retry, tmp_path)
    dataset = case.dataset()
    sandbox.control.add_fault(
        kind="error", method="POST", path=case.create_path, status=409, count=2, message="busy"
    )

    job_id = case.client.create(case.desired, dataset)

    assert case.jobs() == [job_id]
    assert case.creates(sandbox) == 3


def test_cohere_gives_up_on_409_after_its_sdks_two_retries(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    case = make_case("cohere", sandbox, fast_retry, tmp_path)
    dataset = case.dataset()
    sandbox.control.add_fault(kind="error", method="POST", path=case.create_path, status=409)

    with pytest.raises(RetryableError, match="gave up after 3 attempts") as raised:
        case.client.create(case.desired, dataset)

    assert raised.value.status == 409
    assert case.creates(sandbox) == 3  # the SDK's bound, not the policy's 4
    sandbox.control.clear_faults()
    assert case.jobs() == []


@pytest.mark.parametrize("provider", ["segmind", "qubrid"])
def test_a_409_is_not_retried_where_no_sdk_retries_it(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path, provider: ProviderName
) -> None:
    case = make_case(provider, sandbox, fast_retry, tmp_path)
    dataset = case.dataset()
    _create_fault(case, sandbox, kind="error", status=409, message="already exists")

    with pytest.raises(PermanentError, match="already exists"):
        case.client.create(case.desired, dataset)

    assert case.creates(sandbox) == 1


# 422: the fields FastAPI names ------------------------------------------------------------


def test_a_fastapi_422_names_its_fields_on_one_line_with_secrets_masked(
    case: Case, sandbox: RunningSandbox
) -> None:
    secret = sandbox.keys[case.provider]  # the key the client sends, registered as a secret
    detail = [
        {"loc": ["body", "settings", "base_model", "name"], "msg": "field required", "type": "x"},
        {
            "loc": ["body", "hyperparameters", 0, "epochs"],
            "msg": f"must be\n at least 1 (key {secret})",
            "type": "value_error",
            "input": secret,
        },
        {"loc": ["query", "page_size"], "msg": "not an integer", "type": "int_parsing"},
    ]
    dataset = case.dataset()
    _create_fault(case, sandbox, kind="error", status=422, body={"detail": detail})

    with pytest.raises(PermanentError) as raised:
        case.client.create(case.desired, dataset)

    message = raised.value.message
    assert raised.value.status == 422
    assert "settings.base_model.name: field required" in message
    assert "hyperparameters[0].epochs: must be at least 1" in message
    assert "query.page_size: not an integer" in message
    assert "\n" not in message
    assert_no_secret(message, (secret,))
    assert case.creates(sandbox) == 1


def test_a_422_with_the_providers_own_message_keeps_it(
    case: Case, sandbox: RunningSandbox, provider_message: Callable[[ProviderName, str], Any]
) -> None:
    dataset = case.dataset()
    body = provider_message(case.provider, "base model is not supported")
    _create_fault(case, sandbox, kind="error", status=422, body=body)

    with pytest.raises(PermanentError, match="base model is not supported"):
        case.client.create(case.desired, dataset)


@pytest.fixture
def provider_message() -> Callable[[ProviderName, str], Any]:
    def shape(provider: ProviderName, message: str) -> Any:
        return {
            "segmind": {"error": message},
            "qubrid": {"error": {"message": message, "type": "invalid_request", "code": "x"}},
            "cohere": {"message": message},
        }[provider]

    return shape
