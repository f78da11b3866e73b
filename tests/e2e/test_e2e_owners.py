"""Two repositories on one provider account, over real HTTP: specs of the same names converge
to jobs of their own, ``--prune`` in either reaches only its own jobs, and a job from before
the repository had an owner is adopted only when a spec says so."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import (
    Cli,
    copy_examples,
    example_spec_names,
    live_jobs_by_owner,
    sandbox_env,
)
from tests.support.repos import mark_repository

EXAMPLES = example_spec_names()


def repository(tmp_path: Path, owner: str, running: RunningSandbox) -> tuple[Path, Cli]:
    root = copy_examples(tmp_path / owner)
    mark_repository(root, owner=owner)
    return root, Cli(root, sandbox_env(running))


def test_two_repositories_with_the_same_spec_names_each_get_their_own_jobs(
    tmp_path: Path, running: RunningSandbox
) -> None:
    root_a, repo_a = repository(tmp_path, "repo-a", running)
    _, repo_b = repository(tmp_path, "repo-b", running)

    first = repo_a()
    assert first.exit_code == 0, first.output
    second = repo_b()
    assert second.exit_code == 0, second.output
    assert f"Apply: {len(EXAMPLES)} done, 0 failed, 0 blocked" in second.stdout

    live = live_jobs_by_owner(running, root_a)
    expected = Counter(
        (provider, owner, name) for owner in ("repo-a", "repo-b") for provider, name in EXAMPLES
    )
    assert live == expected
    for cli in (repo_a, repo_b):
        again = cli("plan", "--detailed-exitcode")
        assert again.exit_code == 0, again.stdout


def test_prune_in_one_repository_touches_only_its_own_jobs(
    tmp_path: Path, running: RunningSandbox
) -> None:
    root_a, repo_a = repository(tmp_path, "repo-a", running)
    _, repo_b = repository(tmp_path, "repo-b", running)
    assert repo_a().exit_code == 0
    assert repo_b().exit_code == 0
    before = live_jobs_by_owner(running, root_a)

    # Repository A drops a spec of each provider that can delete, and one of Segmind's.
    for spec in ("qubrid-release-notes.yaml", "cohere-ticket-labels.yaml", "segmind-qwen.yaml"):
        (root_a / "specs" / spec).unlink()
    pruned = repo_a("--prune", "--output", "json")
    assert pruned.exit_code == 0, pruned.output
    outcomes = json.loads(pruned.stdout)["apply"]["outcomes"]
    assert sorted((o["provider"], o["name"], o["outcome"]) for o in outcomes) == [
        ("cohere", "ticket-labels-v1", "done"),
        ("qubrid", "release-notes-v1", "done"),
        ("segmind", "mascot-qwen-v1", "warning"),
    ]

    after = live_jobs_by_owner(running, root_a)
    gone = before - after
    assert gone == Counter(
        {
            ("cohere", "repo-a", "ticket-labels-v1"): 1,
            ("qubrid", "repo-a", "release-notes-v1"): 1,
        }
    )
    assert all(owner == "repo-a" for _, owner, _ in gone)
    # Repository B sees nothing to do: none of its jobs was touched.
    untouched = repo_b("plan", "--prune", "--detailed-exitcode")
    assert untouched.exit_code == 0, untouched.stdout
    assert not (after - before)


def test_segmind_prune_is_a_warning_that_does_not_fail_the_run(
    tmp_path: Path, running: RunningSandbox
) -> None:
    root, cli = repository(tmp_path, "repo-a", running)
    assert cli().exit_code == 0
    (root / "specs" / "segmind-qwen.yaml").unlink()
    result = cli("--prune")
    assert result.exit_code == 0, result.output
    assert "delete (not possible): no spec names it, but Segmind has no delete endpoint" in (
        result.stdout
    )
    assert "forget" in result.stdout
    assert "1 warning" in result.stdout
    # Forgetting it ends the warning.
    mark_repository(
        root, owner="repo-a", config="forget: [{provider: segmind, name: mascot-qwen-v1}]\n"
    )
    quiet = cli("--prune")
    assert quiet.exit_code == 0, quiet.output
    assert "warning" not in quiet.stdout


def test_a_job_from_before_owners_blocks_its_create_until_adopted(
    tmp_path: Path, running: RunningSandbox
) -> None:
    root, cli = repository(tmp_path, "repo-a", running)
    # The examples converged by a repository without an owner (as reconcile did before owners).
    legacy = root.parent / "legacy"
    copy_examples(legacy)
    (legacy / "reconciler.yaml").write_text("owner: zz\n")
    assert Cli(legacy, sandbox_env(running))().exit_code == 0
    rows = running.sandbox.store.query("SELECT id, name FROM cohere_finetuned_models")
    for row in rows:  # strip the owner, as the name of a job made before owners
        running.control.set_fields(
            "cohere", "finetuned-models", row["id"], name=row["name"].removeprefix("zz--")
        )

    blocked = cli("plan", "specs/cohere-support-chat.yaml")
    assert blocked.exit_code == 1
    assert "create (blocked)" in blocked.stdout
    assert "a job of this name that carries no owner exists" in blocked.stdout
    (legacy_id,) = [
        row["id"] for row in rows if row["name"].removeprefix("zz--") == "support-chat-v1"
    ]
    assert f"adopt: [{legacy_id}]" in blocked.stdout

    spec = root / "specs" / "cohere-support-chat.yaml"
    spec.write_text(spec.read_text() + f"adopt: [{legacy_id}]\n")
    adopted = cli("plan", "--detailed-exitcode", "specs/cohere-support-chat.yaml")
    assert adopted.exit_code == 0, adopted.stdout
