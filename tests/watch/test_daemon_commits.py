"""The daemon applies commits, not saves (DESIGN, principle 8), against the sandbox over real
HTTP: in a git checkout (or a monorepo's folder) an uncommitted spec is previewed and nothing
is written, committing it creates its job; a pulled commit is applied by the run that pulled
it; an invalid commit is reported at the checkout's files; a preview that fails stops nothing.
Outside git an editor's intermediate save is never trained, nor a save made a moment before a
run or before the daemon started; ``--worktree`` applies saved files after the quiet period."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.config import load_settings
from reconciler.watch import Daemon, RunRecord, RunResult, WatchOptions
from reconciler.watch.commits import GitCheckout
from reconciler.watch.git import GitError
from reconciler.watch.triggers import Trigger, TriggerQueue
from tests.support.repos import TEST_OWNER, git, published
from tests.watch.watch_support import (
    CapturedLog,
    daemon_in_thread,
    make_repo,
    posts,
    quick_clients,
    segmind_jobs,
    wait_for,
    write_spec,
)


def git_checkout(root: Path) -> Path:
    """``make_repo``'s repository as a real git checkout with one commit, of one spec
    (``fox-base``: a commit without any spec is invalid)."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    make_repo(root)
    write_spec(root, "fox-base")
    (root / ".gitignore").write_text(".reconcile/\n")
    commit(root, "the repository")
    return root


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", message)


def events(log: CapturedLog, name: str) -> list[dict[str, object]]:
    return [entry for line in log.lines() if (entry := json.loads(line))["event"] == name]


def resync(daemon: Daemon) -> RunRecord:
    """The record of a resync asked for now (as by a webhook), once it has finished."""
    runs = daemon.runs
    daemon.queue.put(Trigger.WEBHOOK)
    wait_for(lambda: daemon.runs > runs, 10.0, "the resync")
    assert daemon.last_run is not None
    return daemon.last_run


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
        # A resync while the spec is uncommitted applies HEAD, which does not have it.
        assert resync(daemon).result is RunResult.SUCCESS
        assert posts(sandbox) == 0, sandbox.control.request_counts()  # nothing written
        assert segmind_jobs(sandbox, "fox-v1") == []

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
        assert resync(daemon).result is RunResult.SUCCESS
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
    with daemon_in_thread(repo, log, quiet_period=1.0) as daemon:
        assert not daemon.applies_commits
        sandbox.control.clear_requests()
        spec = write_spec(repo, "mascot-v")
        time.sleep(0.5)  # the user is still typing the name (half a second inside the quiet period)
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
    with daemon_in_thread(repo, worktree=True, quiet_period=1.0) as daemon:
        assert not daemon.applies_commits
        saved_at = time.monotonic()
        write_spec(repo, "saved-only")
        wait_for(lambda: segmind_jobs(sandbox, "saved-only"), 10.0, "the create of a saved spec")
        assert time.monotonic() - saved_at >= 1.0  # not before the quiet period
    never_committed = git(repo, "status", "--porcelain", "--untracked-files=all")
    assert never_committed == "?? specs/saved-only.yaml"


def test_a_monorepo_folder_applies_its_commits_only(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    top = tmp_path / "mono"
    top.mkdir()
    git(top, "init", "--quiet", "--initial-branch=main")
    (top / "app.py").write_text("")
    root = top / "finetunes"
    root.mkdir()
    (root / "reconciler.yaml").write_text(f"owner: {TEST_OWNER}\n")
    make_repo(root)
    (root / ".git").rmdir()  # make_repo marks a plain folder; this one is in the monorepo
    commit(top, "the monorepo")
    log = CapturedLog()
    with daemon_in_thread(root, log) as daemon:
        assert daemon.applies_commits
        sandbox.control.clear_requests()
        write_spec(root, "mono-v1")
        wait_for(lambda: events(log, "preview.planned"), 10.0, "a preview", log.text)
        assert posts(sandbox) == 0, sandbox.control.request_counts()
        commit(top, "train mono-v1")
        wait_for(lambda: segmind_jobs(sandbox, "mono-v1"), 10.0, "the create", log.text)


def test_a_pulled_commit_is_applied_by_the_run_that_pulled_it(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    def fill(root: Path) -> None:
        make_repo(root)
        (root / ".gitignore").write_text(".reconcile/\n")

    _, (served, author) = published(tmp_path, fill)
    log = CapturedLog()
    with daemon_in_thread(served, log, pull=True) as daemon:
        assert daemon.applies_commits
        (author / "specs").mkdir(exist_ok=True)  # git keeps no empty folder
        write_spec(author, "pulled-v1")
        commit(author, "train pulled-v1")
        git(author, "push", "--quiet", "origin", "HEAD:main")
        pushed = git(author, "rev-parse", "HEAD")
        daemon.queue.put(Trigger.WEBHOOK)  # what the git host's push webhook does
        wait_for(lambda: segmind_jobs(sandbox, "pulled-v1"), 10.0, "the create", log.text)
        finished = wait_for(
            lambda: [e for e in events(log, "run.finished") if "webhook" in str(e["triggers"])],
            10.0,
            "the webhook's run",
            log.text,
        )
    assert str(finished[0]["message"]).startswith(f"commit {pushed[:12]}: plan: 1 create")


def test_an_invalid_commit_is_reported_at_the_checkouts_file(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    repo = git_checkout(tmp_path / "repo")
    log = CapturedLog()
    with daemon_in_thread(repo, log) as daemon:
        (repo / "specs" / "broken.yaml").write_text(
            "apiVersion: reconciler/v1\nkind: FineTune\nname: broken\nprovider: segmind\n"
            "base_model: FLUX_PRO\ndataset: ../datasets/fox/\nacess: private\n"
        )
        commit(repo, "a typo")
        sha = git(repo, "rev-parse", "HEAD")
        problems = wait_for(
            lambda: [p for p in events(log, "spec.invalid") if "acess" in str(p["message"])],
            10.0,
            "the report",
            log.text,
        )
        finished = wait_for(
            lambda: [e for e in events(log, "run.finished") if sha[:12] in str(e["message"])],
            10.0,
            "the run of the commit",
            log.text,
        )
        assert daemon.applies_commits
    assert finished[0]["result"] == RunResult.INVALID.value
    assert str(finished[0]["message"]).endswith("fix them and commit")
    assert str(problems[0]["file"]) == str(repo / "specs" / "broken.yaml")
    assert str(problems[0]["message"]).endswith(f"(in commit {sha[:12]})")


def test_a_preview_that_fails_stops_nothing(
    sandbox: RunningSandbox,
    sandbox_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = git_checkout(tmp_path / "repo")

    def broken(self: GitCheckout) -> bool:
        raise GitError("index file corrupt")

    monkeypatch.setattr(GitCheckout, "uncommitted", broken)
    log = CapturedLog()
    with daemon_in_thread(repo, log):
        write_spec(repo, "fox-v1")
        failed = wait_for(lambda: events(log, "preview.failed"), 10.0, "the preview", log.text)
        assert "index file corrupt" in str(failed[0]["message"])
        commit(repo, "train fox-v1")
        wait_for(lambda: segmind_jobs(sandbox, "fox-v1"), 10.0, "the create", log.text)


def test_outside_git_files_changed_a_moment_before_a_run_are_not_applied_yet(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    # No watcher: only the files' change times can tell this run about the save.
    daemon = Daemon(
        WatchOptions(watch_files=False, quiet_period=1.0), cwd=repo, client_factory=quick_clients
    )
    try:
        saved_at = time.monotonic()
        write_spec(repo, "fox-v1")
        held = daemon.converge_once(frozenset({Trigger.WEBHOOK}))
        assert held.result is RunResult.SKIPPED, held.summary
        assert "nothing was applied" in held.summary
        assert segmind_jobs(sandbox) == []
        assert daemon.queue.take(0.0) == {Trigger.FILE}  # the worker comes back to them
        done = wait_for(
            lambda: (record := daemon.converge_once()).result is RunResult.SUCCESS and record,
            10.0,
            "a run once the files are quiet",
        )
        assert time.monotonic() - saved_at >= 1.0
        assert "1 create" in done.summary
    finally:
        daemon.close()


def test_outside_git_a_save_made_just_before_the_daemon_started_waits_for_the_quiet_period(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    saved_at = time.monotonic()
    write_spec(repo, "fox-v1")
    with daemon_in_thread(repo, quiet_period=1.0):
        assert segmind_jobs(sandbox, "fox-v1")  # the first run made it...
        first_create = sandbox.control.request_counts()
    assert time.monotonic() - saved_at >= 1.0  # ...no sooner than the quiet period allows
    assert first_create.get("POST /segmind/finetune/request/submit") == 1


def test_runs_held_for_the_quiet_period_wait_without_spinning(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_spec(repo, "fox-v1")  # just saved: the first run is held for the quiet period
    takes: list[float] = []
    take = TriggerQueue.take

    def counted(queue: TriggerQueue, timeout: float) -> frozenset[Trigger]:
        takes.append(timeout)
        return take(queue, timeout)

    monkeypatch.setattr(TriggerQueue, "take", counted)
    # The resync is due at once and every moment after: the wait must still be the hold's.
    daemon = Daemon(WatchOptions(watch_files=False, quiet_period=2.0, interval=0.1), cwd=repo)
    stop = threading.Event()
    worker = threading.Thread(target=daemon.run_until, args=(stop,), daemon=True)
    worker.start()
    try:
        wait_for(lambda: len(takes) >= 2, 5.0, "the worker to hold the first run")
        assert not stop.wait(1.0)  # well inside the hold
        assert daemon.runs == 0
        assert len(takes) <= 5, f"{len(takes)} takes in a second"
    finally:
        stop.set()
        daemon.queue.close()
        worker.join(10.0)
        daemon.close()


def test_a_daemon_of_some_paths_plans_partially_like_the_command_line(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    # With only some PATHs, the repository's other jobs are counted as not targeted (as
    # `reconcile plan PATH` does), never taken for unmanaged ones; all PATHs: a whole plan.
    one = write_spec(repo, "fox-v1")
    write_spec(repo, "fox-v2")
    settings = load_settings(repo)
    daemon = Daemon(WatchOptions(paths=(one,)), cwd=repo)
    try:
        assert daemon._plan_options(settings, [one]).partial
        assert not daemon._plan_options(settings, []).partial
        assert not daemon._plan_options(settings, [repo / "specs"]).partial
    finally:
        daemon.close()
