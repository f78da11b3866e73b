"""The lease on a git remote, against real git: a bare repository on disk as the remote and
clones of it, with no user or system git configuration."""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.lease import open_store
from reconciler.apply.lease.git import GitRefStore, find_lease_remote
from reconciler.apply.lease.holding import WriterLease
from reconciler.apply.lease.local import LocalFileStore
from reconciler.apply.lease.record import Holder, LeaseRecord, LeaseRecordError
from reconciler.apply.lease.store import (
    LeaseConflictError,
    LeaseHeldError,
    LeaseUnavailableError,
)

REF = "refs/reconcile/lease"
TOKEN_URL = "https://user:secret-token@127.0.0.1:9/x.git"


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def held(name: str, expires_at: float = 2_000_000_000.0, **journal: Any) -> LeaseRecord:
    holder = Holder(id=name, host="host-a", pid=1, command=f"reconcile {name}", started_at=1.0)
    return LeaseRecord(holder=holder, expires_at=expires_at, journal=journal)


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git configuration, no proxy, and an identity for the seed commit."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for variable in list(os.environ):
        if variable.lower().endswith("_proxy") or (
            variable.startswith("GIT_") and variable != "GIT_CONFIG_NOSYSTEM"
        ):
            monkeypatch.delenv(variable)
    for variable, value in {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }.items():
        monkeypatch.setenv(variable, value)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository with one commit on main, as a git host would have."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    (seed / "reconciler.yaml").write_text("owner: acme\n")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "initial")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return bare


def clone(remote: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "--quiet", str(remote), str(dest))
    return dest


@pytest.fixture
def checkout(remote: Path, tmp_path: Path) -> Path:
    return clone(remote, tmp_path / "checkout")


def remote_ref(remote: Path) -> str | None:
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", REF], cwd=remote, capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else None


def install_hook(remote: Path, name: str, script: str) -> None:
    hook = remote / "hooks" / name
    hook.write_text(script)
    hook.chmod(0o755)


# -- reading and swapping -------------------------------------------------------------------


def test_a_missing_ref_reads_as_no_lease(checkout: Path) -> None:
    assert GitRefStore(checkout, "origin").read() == (None, None)


def test_swap_creates_an_orphan_commit_holding_only_lease_json(
    checkout: Path, remote: Path, tmp_path: Path
) -> None:
    store = GitRefStore(checkout, "origin")
    version = store.swap(None, held("a", note="first"))
    assert remote_ref(remote) == version
    assert git(remote, "ls-tree", "--name-only", version) == "lease.json"
    assert git(remote, "rev-list", "--parents", "-n", "1", version) == version  # no parents
    assert git(remote, "log", "-1", "--format=%an <%ae>|%s", version) == (
        "reconcile <reconcile@localhost>|reconcile lease: held by `reconcile a`"
        " (process 1 on host-a, since 1970-01-01T00:00:01Z)"
    )
    assert store.read() == (version, held("a", note="first"))
    # Another machine, which has never seen the commit, fetches and reads the same record.
    other = GitRefStore(clone(remote, tmp_path / "other"), "origin")
    assert other.read() == (version, held("a", note="first"))
    # Reading fetched objects only: no ref, no FETCH_HEAD in the user's checkout.
    assert git(tmp_path / "other", "for-each-ref", "refs/reconcile") == ""
    assert not (tmp_path / "other" / ".git" / "FETCH_HEAD").exists()


def test_a_stale_expected_version_conflicts(checkout: Path, remote: Path) -> None:
    store = GitRefStore(checkout, "origin")
    first = store.swap(None, held("a"))
    second = store.swap(first, held("b"))
    with pytest.raises(LeaseConflictError, match=r"changed since it was read \(it is now at"):
        store.swap(first, held("c"))
    with pytest.raises(LeaseConflictError):
        store.swap(None, held("c"))
    assert remote_ref(remote) == second
    assert store.read() == (second, held("b"))


def test_a_released_record_round_trips(checkout: Path) -> None:
    store = GitRefStore(checkout, "origin")
    first = store.swap(None, held("a", k=1))
    released = LeaseRecord(holder=None, expires_at=None, journal={"k": 1})
    second = store.swap(first, released)
    assert GitRefStore(checkout, "origin").read() == (second, released)


def test_a_shallow_checkout_reads_and_swaps(remote: Path, tmp_path: Path) -> None:
    # actions/checkout clones with --depth 1.
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth=1", f"file://{remote}", str(shallow))
    version = GitRefStore(clone(remote, tmp_path / "full"), "origin").swap(None, held("a"))
    store = GitRefStore(shallow, "origin")
    assert store.read() == (version, held("a"))
    assert store.swap(version, held("b")) == remote_ref(remote)


def test_a_push_reported_failed_that_landed_counts_as_done(checkout: Path, remote: Path) -> None:
    # The update hook moves the ref itself and then declines: the client hears a failure, as
    # when an answer is lost, although the new commit is on the remote.
    install_hook(remote, "update", '#!/bin/sh\ngit update-ref "$1" "$3" && exit 1\n')
    store = GitRefStore(checkout, "origin")
    version = store.swap(None, held("a"))
    assert remote_ref(remote) == version


# -- two processes racing ---------------------------------------------------------------------


def _race_worker(root: str, name: str, orders: Any, results: Any, barrier: Any) -> None:
    store = GitRefStore(Path(root), "origin", timeout=20)
    while (order := orders.get()) is not None:
        round_number, expected = order
        record = held(f"{name}-{round_number}", round=round_number)
        barrier.wait(timeout=20)
        try:
            results.put((name, "won", store.swap(expected, record)))
        except LeaseConflictError:
            results.put((name, "conflict", None))
        except Exception as error:
            results.put((name, "error", f"{type(error).__name__}: {error}"))


@pytest.fixture
def racers(remote: Path, tmp_path: Path) -> Iterator[tuple[list[Any], Any]]:
    """Two processes, each with its own clone, swapping when told to, at the same moment."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    orders = [context.Queue(), context.Queue()]
    processes = [
        context.Process(
            target=_race_worker,
            args=(str(clone(remote, tmp_path / name)), name, orders[i], results, barrier),
            daemon=True,
        )
        for i, name in enumerate(("left", "right"))
    ]
    for process in processes:
        process.start()
    yield orders, results
    for order_queue in orders:
        order_queue.put(None)
    for process in processes:
        process.join(timeout=10)
        assert process.exitcode == 0


def run_races(remote: Path, racers: tuple[list[Any], Any], rounds: int, before_round: Any) -> None:
    orders, results = racers
    expected: str | None = None
    for round_number in range(rounds):
        before_round(round_number)
        for order_queue in orders:
            order_queue.put((round_number, expected))
        try:
            outcomes = sorted(results.get(timeout=30) for _ in orders)
        except queue.Empty:
            pytest.fail(f"round {round_number}: a racer did not answer")
        kinds = [kind for _name, kind, _version in outcomes]
        assert sorted(kinds) == ["conflict", "won"], (round_number, outcomes)
        [(winner, _kind, version)] = [o for o in outcomes if o[1] == "won"]
        assert remote_ref(remote) == version
        content = git(remote, "cat-file", "blob", f"{version}:lease.json")
        assert LeaseRecord.from_json(content.encode()) == held(
            f"{winner}-{round_number}", round=round_number
        )
        expected = version


def test_two_processes_racing_from_the_same_version_have_one_winner_per_round(
    remote: Path, racers: tuple[list[Any], Any]
) -> None:
    run_races(remote, racers, 20, lambda _round: None)


def test_the_server_decides_a_race_both_pushes_passed_the_client_check(
    remote: Path, racers: tuple[list[Any], Any], tmp_path: Path
) -> None:
    # The pre-receive hook holds each push until both have arrived: by then both clients have
    # checked the advertised value and sent the same old value, so only receive-pack's ref
    # transaction (which re-reads the ref under its lock) can tell them apart.
    install_hook(
        remote,
        "pre-receive",
        """#!/bin/sh
dir=$(cat rendezvous)
: > "$dir/$$"
i=0
while [ "$(ls "$dir" | wc -l)" -lt 2 ]; do
  i=$((i + 1))
  [ "$i" -gt 3000 ] && exit 1
  sleep 0.01
done
""",
    )

    def new_rendezvous(round_number: int) -> None:
        folder = tmp_path / f"rendezvous-{round_number}"
        folder.mkdir()
        (remote / "rendezvous").write_text(str(folder))

    run_races(remote, racers, 5, new_rendezvous)


# -- failures ---------------------------------------------------------------------------------


def test_a_remote_that_refuses_pushes_is_unavailable_and_says_what_to_do(
    checkout: Path, remote: Path
) -> None:
    install_hook(remote, "pre-receive", "#!/bin/sh\necho 'read-only mirror' >&2\nexit 1\n")
    store = GitRefStore(checkout, "origin")
    with pytest.raises(LeaseUnavailableError) as caught:
        store.swap(None, held("a"))
    message = str(caught.value)
    assert "cannot write the writer lease to the git remote `origin`" in message
    assert "pre-receive hook declined" in message
    assert "read-only mirror" in message
    assert "push access to `origin`" in message
    assert "permissions: contents: write" in message
    assert remote_ref(remote) is None


def test_an_unreachable_remote_is_unavailable(checkout: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.git")
    store = GitRefStore(checkout, missing, timeout=10)
    with pytest.raises(LeaseUnavailableError, match="cannot read the writer lease from") as read:
        store.read()
    with pytest.raises(LeaseUnavailableError, match="cannot write the writer lease to") as swap:
        store.swap(None, held("a"))
    for error in (read.value, swap.value):
        assert f"the git remote `{missing}`" in str(error)
        assert "does not appear to be a git repository" in str(error)
        # No chained exception to print: a subprocess error would show the command line.
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__


def test_a_hanging_remote_times_out_and_its_helpers_are_ended(checkout: Path) -> None:
    # upload-pack is started through a shell that first sleeps: a remote that never answers.
    # The shell and its sleep are git's grandchildren; if the timeout ended git alone, they
    # would keep the output pipes open and the call would wait for them.
    git(checkout, "config", "remote.origin.uploadpack", "sleep 60; git-upload-pack")
    store = GitRefStore(checkout, "origin", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(LeaseUnavailableError) as caught:
        store.read()
    assert time.monotonic() - started < 3
    assert str(caught.value).startswith(
        "cannot read the writer lease from the git remote `origin` (refs/reconcile/lease):"
        " `git ls-remote` did not finish within 0.5 s. Check the network"
    )


def test_a_token_in_the_remote_url_never_shows(
    checkout: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    git(checkout, "remote", "add", "tokened", TOKEN_URL)
    texts = []
    for remote_name in (TOKEN_URL, "tokened"):
        store = GitRefStore(checkout, remote_name, timeout=10)
        texts.append(store.describe())
        with pytest.raises(LeaseUnavailableError) as caught:
            store.read()
        texts.append(str(caught.value))
        with pytest.raises(LeaseUnavailableError) as caught:
            store.swap(None, held("a"))
        texts.append(str(caught.value))
        lease = WriterLease(store, Holder.current("reconcile apply"))
        with pytest.raises(LeaseUnavailableError) as caught:
            lease.acquire()
        texts.append(str(caught.value))
    texts.extend(record.getMessage() for record in caplog.records)
    assert "https://****@127.0.0.1:9/x.git" in texts[0]
    assert any("127.0.0.1" in text for text in texts[1:])
    for text in texts:
        assert "secret-token" not in text
        assert "user:" not in text


def test_a_malformed_record_on_the_remote_says_how_to_remove_it(
    checkout: Path, remote: Path
) -> None:
    blob = git(checkout, "hash-object", "-w", "--stdin", stdin="{not json")
    tree = git(checkout, "mktree", stdin=f"100644 blob {blob}\tlease.json\n")
    commit = git(checkout, "commit-tree", "-m", "vandal", tree)
    git(checkout, "push", "--quiet", "origin", f"{commit}:{REF}")
    with pytest.raises(LeaseRecordError) as caught:
        GitRefStore(checkout, "origin").read()
    assert str(caught.value) == (
        f"the writer lease on the git remote `origin` ({REF}) (commit {commit[:12]}) cannot be"
        " read: the lease record is not valid JSON (Expecting property name enclosed in double"
        f" quotes); if no apply is running, remove it with `git push origin :{REF}` and run again"
    )


def test_a_commit_without_lease_json_is_refused(checkout: Path) -> None:
    head = git(checkout, "rev-parse", "HEAD")
    git(checkout, "push", "--quiet", "origin", f"{head}:{REF}")
    with pytest.raises(LeaseRecordError, match=r"its commit holds no lease\.json"):
        GitRefStore(checkout, "origin").read()


@pytest.mark.parametrize(
    "ref", ["refs/heads/main", "refs/tags/v1", "refs/reconcile/../heads/main", "refs/reconcile/"]
)
def test_the_lease_ref_must_be_in_our_namespace(checkout: Path, ref: str) -> None:
    with pytest.raises(ValueError, match="not a ref under refs/reconcile/"):
        GitRefStore(checkout, "origin", ref)


def test_without_git_installed_the_store_is_unavailable(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(LeaseUnavailableError, match="git is not installed"):
        GitRefStore(checkout, "origin").read()
    assert find_lease_remote(checkout, None) is None


# -- the lease over git, end to end -------------------------------------------------------------


def test_two_machines_take_turns_through_the_remote(remote: Path, tmp_path: Path) -> None:
    first_store = GitRefStore(clone(remote, tmp_path / "laptop"), "origin")
    second_store = GitRefStore(clone(remote, tmp_path / "ci"), "origin")
    first = WriterLease(first_store, Holder.current("reconcile apply"))
    first.acquire()
    first.write_journal({"created": ["mascot-v1"]})
    with pytest.raises(LeaseHeldError) as caught:
        WriterLease(second_store, Holder.current("reconcile apply --prune")).acquire()
    assert "`reconcile apply` (process" in str(caught.value)
    assert f"the git remote `origin` ({REF})" in str(caught.value)
    first.release(first.journal)
    second = WriterLease(second_store, Holder.current("reconcile apply --prune"))
    acquired = second.acquire()
    assert acquired.previous is not None
    assert acquired.previous.holder is None
    assert acquired.previous.journal == {"created": ["mascot-v1"]}
    second.release({})


# -- choosing the remote ----------------------------------------------------------------------


def test_find_lease_remote_outside_a_repository_is_none(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    assert find_lease_remote(folder, None) is None


def test_find_lease_remote_without_remotes_is_none(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet", str(tmp_path / "lonely"))
    assert find_lease_remote(tmp_path / "lonely", None) is None


def test_find_lease_remote_picks_origin_and_obeys_the_setting(checkout: Path) -> None:
    assert find_lease_remote(checkout, None) == "origin"
    assert find_lease_remote(checkout, "none") is None
    assert find_lease_remote(checkout, "backup") == "backup"
    git(checkout, "remote", "add", "backup", str(checkout))
    assert find_lease_remote(checkout, None) == "origin"  # the upstream of main


def test_find_lease_remote_prefers_the_upstream_remote(
    checkout: Path, remote: Path, tmp_path: Path
) -> None:
    # A remote name with "/" in it: "team/fork/main" cannot be split by looking at it.
    git(checkout, "remote", "add", "team/fork", str(remote))
    git(checkout, "fetch", "--quiet", "team/fork")
    git(checkout, "branch", "--quiet", "--set-upstream-to=team/fork/main")
    assert find_lease_remote(checkout, None) == "team/fork"
    # Detached, with several remotes: origin.
    git(checkout, "checkout", "--quiet", "--detach")
    assert find_lease_remote(checkout, None) == "origin"


def test_find_lease_remote_takes_the_only_remote_whatever_its_name(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "--quiet", str(repo))
    git(repo, "remote", "add", "upstream", "https://example.invalid/x.git")
    assert find_lease_remote(repo, None) == "upstream"
    git(repo, "remote", "add", "mirror", "https://example.invalid/y.git")
    assert find_lease_remote(repo, None) is None


def test_open_store_chooses_git_or_the_local_file(checkout: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    git_store = open_store(checkout, state, None, REF)
    assert isinstance(git_store, GitRefStore)
    assert git_store.describe() == f"the git remote `origin` ({REF})"
    assert isinstance(open_store(checkout, state, "none", REF), LocalFileStore)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert isinstance(open_store(plain, state, None, REF), LocalFileStore)
