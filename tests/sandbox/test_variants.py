"""Variants: the sandbox answers an open question of the provider documents the way it is told,
through the control API, a reset, its start-up configuration and `reconcile sandbox --variant`."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from reconcile_sandbox.provider import Provider
from reconcile_sandbox.testing import RunningSandbox, SandboxControlError, start_sandbox
from reconcile_sandbox.variants import VariantBook, VariantError, split_variant
from tests.support.sandbox_command import start_sandbox_command


def names_listed(running: RunningSandbox) -> list[str]:
    response = httpx.get(
        f"{running.base_url('toy')}/items",
        headers={"Authorization": f"Bearer {running.keys['toy']}"},
    )
    response.raise_for_status()
    return [item["name"] for item in response.json()["items"]]


def create(running: RunningSandbox, name: str) -> None:
    httpx.post(
        f"{running.base_url('toy')}/items",
        json={"name": name},
        headers={"Authorization": f"Bearer {running.keys['toy']}"},
    ).raise_for_status()


def test_a_variant_set_through_the_control_api_changes_the_answer_until_a_reset(
    toy_sandbox: RunningSandbox,
) -> None:
    create(toy_sandbox, "first")
    toy_sandbox.control.advance_clock(1)
    create(toy_sandbox, "second")
    assert names_listed(toy_sandbox) == ["first", "second"]
    assert toy_sandbox.control.variants()["toy.order"] == {
        "value": "oldest-first",
        "default": "oldest-first",
        "allowed": ["oldest-first", "newest-first"],
    }

    toy_sandbox.control.set_variants(**{"toy.order": "newest-first"})
    assert names_listed(toy_sandbox) == ["second", "first"]

    toy_sandbox.control.reset("toy")
    assert toy_sandbox.control.variants()["toy.order"]["value"] == "oldest-first"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"toy.color": "red"}, "no variant 'toy.color'; this sandbox has: toy.order"),
        ({"toy.order": "random"}, "toy.order cannot be 'random'; it can be: oldest-first"),
    ],
)
def test_an_unknown_variant_or_value_is_refused_saying_what_there_is(
    toy_sandbox: RunningSandbox, values: dict[str, str], message: str
) -> None:
    with pytest.raises(SandboxControlError, match=re.escape(message)):
        toy_sandbox.control.set_variants(**values)
    assert toy_sandbox.control.variants()["toy.order"]["value"] == "oldest-first"


def test_a_value_that_is_not_a_string_is_refused_as_such(toy_sandbox: RunningSandbox) -> None:
    """Not "cannot be 100" next to a list with "100" in it (Cohere's ``page_size_cap``)."""
    answer = toy_sandbox.control.http.put("/variants", json={"toy.order": 100})
    assert answer.status_code == 400
    assert answer.json()["error"] == "toy.order: a variant's value is a string; got 100"


def test_a_sandbox_started_with_a_variant_keeps_it_across_resets(toy_provider: Provider) -> None:
    with start_sandbox(providers=[toy_provider], variants={"toy.order": "newest-first"}) as running:
        create(running, "first")
        running.control.advance_clock(1)
        create(running, "second")
        assert names_listed(running) == ["second", "first"]
        running.control.set_variants(**{"toy.order": "oldest-first"})
        running.control.reset()
        assert running.control.variants()["toy.order"]["value"] == "newest-first"


def test_the_book_refuses_a_start_value_it_does_not_know(toy_provider: Provider) -> None:
    with pytest.raises(VariantError, match=re.escape("it can be: oldest-first, newest-first")):
        VariantBook([toy_provider], {"toy.order": "sideways"})


@pytest.mark.parametrize("text", ["qubrid.offset", "=ignored", "qubrid.offset=", ""])
def test_a_variant_on_the_command_line_is_name_equals_value(text: str) -> None:
    with pytest.raises(VariantError, match=re.escape("a variant is PROVIDER.NAME=VALUE")):
        split_variant(text)


def test_reconcile_sandbox_refuses_an_unknown_variant_before_serving(tmp_path: Path) -> None:
    server = start_sandbox_command(tmp_path / "state", "--variant", "toy.order=newest-first")
    _, stderr = server.communicate(timeout=60)
    assert server.returncode == 1
    assert "--variant no variant 'toy.order'" in stderr
    assert "Traceback" not in stderr


def test_a_set_with_one_unknown_variant_changes_none(toy_sandbox: RunningSandbox) -> None:
    with pytest.raises(SandboxControlError, match=re.escape("no variant 'toy.color'")):
        toy_sandbox.control.set_variants(**{"toy.order": "newest-first", "toy.color": "red"})
    assert toy_sandbox.control.variants()["toy.order"]["value"] == "oldest-first"
