"""The daemon applies commits, not saves (DESIGN, principle 8), against the sandbox over real
HTTP: in a git checkout an uncommitted spec is previewed and nothing is written, committing it
creates its job; outside git an editor's intermediate save is never trained; ``--worktree``
applies saved files after the quiet period."""

from __future__ import annotations

import json
import time
from pathlib import Path

from reconciler.sandbox.testing import RunningSandbox
from tests.repos import git
from tests.watch.watch_support import (
    CapturedLog,
    daemon_in_thread,
    make_repo,
    posts,
    segmind_jobs,
    wait_for,
    write_spec,
)


def git_checkout(root: Path) -> Path:
    """``make_repo``'s repository as a real git checkout with one commit."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    make_repo(root)
    (root / ".gitignore").write_text(".reconcile/\n")
    commit(root, "the repository")
    return root


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", message)


def events(log: CapturedLog, name: str) -> list[dict[str, object]]:
    return [entry for line in log.lines() if (entry := json.loads(line))["event"] == name]


def test_an_uncommitted_spec_is_previewed_and_a_commit_applies_it(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    repo = git_checkout(tmp_path / "repo")
    log = CapturedLog()
    with daemon_in_thread(repo, log) as daemon:
        assert daemon.applies_commits
        sandbox.control.clear_requests()
        write_spec(repo, "fox-v1")
        previews = wait_for(lambda: events(log, "preview.planned"), 10.0, "a preview", log.text)
        assert "uncommitted edits would create fox-v1" in str(previews[-1]["message"])
        assert "nothing is applied until they are committed" in str(previews[-1]["message"])
        assert posts(sandbox) == 0, sandbox.control.request_counts()  # nothing written
        assert segmind_jobs(sandbox) == []

        committed_at = time.monotonic()
        commit(repo, "train fox-v1")
        wait_for(lambda: segmind_jobs(sandbox, "fox-v1"), 10.0, "the create", log.text)
        assert time.monotonic() - committed_at < 5.0
        applied = [str(e["message"]) for e in events(log, "run.finished")]
        assert any(m.startswith("commit ") for m in applied), applied

        # An access flip saved but not committed is previewed, not applied.
        sandbox.control.clear_requests()
        write_spec(repo, "fox-v1", access="public")
        wait_for(
            lambda: any(
                "update fox-v1" in str(e["message"]) for e in events(log, "preview.planned")
            ),
            10.0,
            "the access preview",
            log.text,
        )
        assert posts(sandbox) == 0, sandbox.control.request_counts()
        assert segmind_jobs(sandbox, "fox-v1")[0]["segmind_public"] == 0

        commit(repo, "make fox-v1 public")
        wait_for(
            lambda: segmind_jobs(sandbox, "fox-v1")[0]["segmind_public"] == 1,
            10.0,
            "the update",
            log.text,
        )
        assert len(segmind_jobs(sandbox, "fox-v1")) == 1


def test_a_commit_made_while_files_are_being_edited_applies_only_what_is_committed(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    repo = git_checkout(tmp_path / "repo")
    log = CapturedLog()
    with daemon_in_thread(repo, log):
        write_spec(repo, "committed-one")
        commit(repo, "one spec")
        write_spec(repo, "still-being-typed")  # saved after the commit, never committed
        wait_for(lambda: segmind_jobs(sandbox, "committed-one"), 10.0, "the committed create")
        wait_for(
            lambda: any(
                "create still-being-typed" in str(e["message"])
                for e in events(log, "preview.planned")
            ),
            10.0,
            "the preview of the saved spec",
            log.text,
        )
    assert segmind_jobs(sandbox, "still-being-typed") == []


def test_outside_git_an_intermediate_save_is_never_trained(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    log = CapturedLog()
    with daemon_in_thread(repo, log, quiet_period=2.0) as daemon:
        assert not daemon.applies_commits
        sandbox.control.clear_requests()
        spec = write_spec(repo, "mascot-v")
        time.sleep(1.5)  # the user is still typing the name
        spec.rename(repo / "specs" / "mascot-v2.yaml")
        write_spec(repo, "mascot-v2")
        wait_for(lambda: segmind_jobs(sandbox, "mascot-v2"), 15.0, "the final create", log.text)
    assert segmind_jobs(sandbox, "mascot-v") == []
    creates = sandbox.control.request_counts().get("POST /segmind/finetune/request/submit", 0)
    assert creates == 1


def test_worktree_applies_saved_files_in_a_git_checkout_after_the_quiet_period(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    repo = git_checkout(tmp_path / "repo")
    with daemon_in_thread(repo, worktree=True, quiet_period=0.5) as daemon:
        assert not daemon.applies_commits
        write_spec(repo, "saved-only")
        wait_for(lambda: segmind_jobs(sandbox, "saved-only"), 10.0, "the create of a saved spec")
