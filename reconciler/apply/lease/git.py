"""The lease on the repository's git remote: a ref updated by compare-and-swap push.

Every machine that applies (laptop, CI runner, daemon) can reach the repository's remote, so
the lease lives there: ``refs/reconcile/lease`` points at an orphan commit whose tree holds one
file, ``lease.json`` (a ``LeaseRecord``). The version token is that commit's sha.

Why the push is a real compare-and-swap. ``git push --force-with-lease=<ref>:<expected>``
first compares ``<expected>`` with the value the remote advertises and refuses ("stale info")
when they differ; that check alone would race. What makes it atomic is what the client then
sends: the command ``<old> <new> <ref>`` with ``<old>`` = ``<expected>`` (the all-zero id when
the ref must not exist). ``receive-pack`` (builtin/receive-pack.c, ``update()``) hands that old
value to ``ref_transaction_update``, and the ref backend locks the ref, reads it under the lock
and refuses the update when it no longer has the old value ("cannot lock ref ...: is at X but
expected Y", or "reference already exists"). Two pushes from the same old value therefore
cannot both succeed, whatever the timing; tests/unit/apply/lease/test_git_store.py races two
processes past the client-side check (a pre-receive hook holds both until both have arrived)
to show it.

A push that failed, or whose answer was lost, is classified by reading the ref again: at our
new commit, it landed; elsewhere than expected, someone else wrote (``LeaseConflictError``);
still at the expected value, the remote refused us (``LeaseUnavailableError``). That needs no
parsing of server messages, which differ between git hosts.

Every git call runs without a terminal prompt, in a session of its own (so ssh cannot ask on
the terminal either, and a timeout kills the whole process group, helpers included), with a
timeout and ``LC_ALL=C``. Text from git reaches a message only through ``redact`` and with
any ``user:password@`` removed from URLs: a remote URL may carry a token. Reading needs git
2.29 or later (``fetch --no-write-fetch-head``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reconciler.apply.lease.record import MAX_RECORD_BYTES, LeaseRecord, LeaseRecordError
from reconciler.apply.lease.store import LeaseConflictError, LeaseUnavailableError
from reconciler.redact import MASK, redact

DEFAULT_REF = "refs/reconcile/lease"
RECORD_FILE = "lease.json"
GIT_TIMEOUT_SECONDS = 30.0
# find_lease_remote reads local configuration only.
LOCAL_TIMEOUT_SECONDS = 10.0
# Enough of git's message to say what went wrong, never a whole transcript.
MAX_MESSAGE_CHARS = 500
# A lease commit needs an identity; setting it here means no user git configuration is needed.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "reconcile",
    "GIT_AUTHOR_EMAIL": "reconcile@localhost",
    "GIT_COMMITTER_NAME": "reconcile",
    "GIT_COMMITTER_EMAIL": "reconcile@localhost",
}
_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
# The lease is force-pushed, so its ref may only live in our own namespace: a setting in
# reconciler.yaml (untrusted input) must not be able to aim that push at a branch or a tag.
_LEASE_REF = re.compile(
    r"refs/reconcile/[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*"
)
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
# ``scheme://userinfo@``: greedy up to the last ``@`` of the authority, so a password that
# contains ``@`` goes whole.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s'\"<>]*@")
# One status line of ``git push --porcelain``: flag, ``from:to``, summary.
_PORCELAIN = re.compile(r"^(?P<flag>[ +\-*!=])\t(?P<src>[^\t]*):(?P<dst>[^\t]*)\t(?P<summary>.*)$")
_PUSHED_FLAGS = frozenset(" +*=")
# A read retries when the ref moves between ``ls-remote`` and ``fetch``.
_READ_ATTEMPTS = 3

logger = logging.getLogger("reconciler.lease")


def scrub_url(text: str) -> str:
    """``text`` with the userinfo of every URL masked (``https://****@host/...``)."""
    return _URL_USERINFO.sub(rf"\g<1>{MASK}@", text)


def check_lease_ref(ref: str) -> str:
    """``ref`` if it is a valid lease ref (under ``refs/reconcile/``); else ``ValueError``."""
    if (
        not _LEASE_REF.fullmatch(ref)
        or ".." in ref
        or any(part.endswith((".", ".lock")) for part in ref.split("/"))
    ):
        raise ValueError(
            f"the lease ref {ref!r} is not a ref under refs/reconcile/ (e.g. {DEFAULT_REF}):"
            " the lease is force-pushed there, so it may not name a branch or a tag"
        )
    return ref


class _GitCallError(Exception):
    """git could not be run, or did not finish in time."""


@dataclass(frozen=True)
class _GitResult:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace").strip()


def _run_git(
    root: Path,
    args: list[str],
    *,
    timeout: float,
    stdin: bytes | None = None,
    extra_env: dict[str, str] | None = None,
) -> _GitResult:
    git = shutil.which("git")
    if git is None:
        raise _GitCallError("git is not installed (or not on PATH)")
    env = {**os.environ, **_NO_PROMPT, **(extra_env or {})}
    try:
        process = subprocess.Popen(  # noqa: S603 (fixed git arguments, no shell)
            [git, "-C", str(root), *args],
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            # No controlling terminal, so nothing (ssh included) can prompt; and a process
            # group of its own, so a timeout ends git's helpers too (git-remote-https, ssh).
            start_new_session=True,
        )
    except OSError as error:
        raise _GitCallError(f"cannot run git: {error.strerror or error}") from None
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _end_group(process)
        raise _GitCallError(f"`git {args[0]}` did not finish within {timeout:g} s") from None
    except BaseException:
        _end_group(process)
        raise
    return _GitResult(process.returncode, stdout, stderr.decode("utf-8", "replace"))


def _end_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        process.kill()
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        # Something outside the group holds the pipes; the process itself is dead.
        process.wait()


def _git_message(result: _GitResult) -> str:
    """git's complaint, scrubbed and capped: error lines, without hints and progress."""
    lines = [
        line.strip()
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith(("hint:", "To ", "Done"))
    ]
    text = " ".join(lines) or f"exit code {result.returncode}"
    return redact(scrub_url(text))[:MAX_MESSAGE_CHARS]


class GitRefStore:
    """The lease as ``<ref>`` on git remote ``remote`` of the checkout at ``root``."""

    def __init__(
        self,
        root: Path,
        remote: str,
        ref: str = DEFAULT_REF,
        timeout: float = GIT_TIMEOUT_SECONDS,
    ) -> None:
        self._root = root
        self._remote = remote
        self._ref = check_lease_ref(ref)
        self._timeout = timeout
        self._shown_remote = redact(scrub_url(remote))
        # The last record parsed, by commit: polling an unchanged lease reads nothing again.
        # Replaced whole, never mutated, so threads may share it.
        self._parsed: tuple[str, LeaseRecord] | None = None

    def describe(self) -> str:
        return f"the git remote `{self._shown_remote}` ({self._ref})"

    def read(self) -> tuple[str | None, LeaseRecord | None]:
        for _attempt in range(_READ_ATTEMPTS):
            sha = self._remote_sha()
            if sha is None:
                return None, None
            parsed = self._parsed
            if parsed is not None and parsed[0] == sha:
                return parsed
            kind = self._object_type(sha)
            if kind is None:
                self._fetch()
                kind = self._object_type(sha)
            if kind is None:
                # The ref moved between ls-remote and fetch; what we fetched is newer.
                continue
            record = self._load(sha, kind)
            self._parsed = (sha, record)
            return sha, record
        raise LeaseUnavailableError(
            f"cannot read the writer lease from {self.describe()}: it changed"
            f" {_READ_ATTEMPTS} times while being read; try again"
        )

    def swap(self, expected: str | None, record: LeaseRecord) -> str:
        commit = self._commit(record)
        args = [
            "push",
            "--porcelain",
            # The user's pre-push hooks are for their branches, not for our lease ref.
            "--no-verify",
            "--no-signed",
            f"--force-with-lease={self._ref}:{expected or ''}",
            self._remote,
            f"{commit}:{self._ref}",
        ]
        try:
            result = _run_git(self._root, args, timeout=self._timeout)
        except _GitCallError as error:
            # The push may have landed before we stopped waiting: look before concluding.
            return self._after_failed_push(expected, commit, str(error))
        status = self._push_status(result)
        if result.returncode == 0 and status is not None and status[0] in _PUSHED_FLAGS:
            return commit
        detail = _git_message(result)
        if status is not None and status[0] == "!":
            detail = f"{redact(scrub_url(status[1]))[:200]}: {detail}"
        return self._after_failed_push(expected, commit, detail)

    def _after_failed_push(self, expected: str | None, commit: str, detail: str) -> str:
        try:
            current = self._remote_sha()
        except LeaseUnavailableError:
            raise self._unwritable(detail) from None
        if current == commit:
            return commit
        if current != expected:
            now = "no longer exists" if current is None else f"is now at {current[:12]}"
            raise LeaseConflictError(
                f"the writer lease on {self.describe()} changed since it was read (it {now})"
            )
        raise self._unwritable(detail)

    def _unwritable(self, detail: str) -> LeaseUnavailableError:
        remote = self._shown_remote
        return LeaseUnavailableError(
            f"cannot write the writer lease to {self.describe()}: {detail}. An apply needs"
            f" push access to `{remote}` (to {self._ref} only): in GitHub Actions grant"
            " `permissions: contents: write` and keep the checkout's credentials"
            " (actions/checkout's `persist-credentials`, on by default); elsewhere check the"
            f" network and that `git push {remote}` works from this checkout"
        )

    def _unreadable(self, detail: str) -> LeaseUnavailableError:
        return LeaseUnavailableError(
            f"cannot read the writer lease from {self.describe()}: {detail}. Check the network"
            f" and that `git ls-remote {self._shown_remote}` works from this checkout"
        )

    def _push_status(self, result: _GitResult) -> tuple[str, str] | None:
        for line in result.stdout.decode("utf-8", "replace").splitlines():
            match = _PORCELAIN.match(line)
            if match and match["dst"] == self._ref:
                return match["flag"], match["summary"]
        return None

    def _remote_sha(self) -> str | None:
        """The ref's commit on the remote; None when the ref does not exist there."""
        try:
            result = _run_git(
                self._root,
                ["ls-remote", "--exit-code", self._remote, self._ref],
                timeout=self._timeout,
            )
        except _GitCallError as error:
            raise self._unreadable(str(error)) from None
        # --exit-code: 2 means the remote answered and has no such ref, which is not the same
        # as a remote that could not be reached (128).
        if result.returncode == 2:
            return None
        if result.returncode != 0:
            raise self._unreadable(_git_message(result))
        # The pattern also matches refs that merely end in our name; only ours counts.
        for line in result.text.splitlines():
            sha, _, name = line.partition("\t")
            if name == self._ref and _SHA.fullmatch(sha):
                return sha
        return None

    def _fetch(self) -> None:
        args = [
            "fetch",
            "--no-tags",
            "--quiet",
            # Objects only: no local ref or FETCH_HEAD is written, so several processes on
            # one checkout never contend for a ref lock, and the user's FETCH_HEAD is kept.
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "--no-auto-maintenance",
            self._remote,
            self._ref,
        ]
        try:
            result = _run_git(self._root, args, timeout=self._timeout)
        except _GitCallError as error:
            raise self._unreadable(str(error)) from None
        if result.returncode != 0:
            message = _git_message(result)
            if "unknown option" in message:
                message += " (the writer lease needs git 2.29 or later)"
            raise self._unreadable(message)

    def _object_type(self, sha: str) -> str | None:
        result = self._local(["cat-file", "-t", sha], "read the lease commit")
        return result.text if result.returncode == 0 else None

    def _load(self, sha: str, kind: str) -> LeaseRecord:
        try:
            if kind != "commit":
                raise LeaseRecordError(f"the ref points at a {kind}, not a commit")
            blob = f"{sha}:{RECORD_FILE}"
            size = self._local(["cat-file", "-s", blob], "read the lease commit")
            if size.returncode != 0:
                raise LeaseRecordError(f"its commit holds no {RECORD_FILE}")
            if not size.text.isdigit() or int(size.text) > MAX_RECORD_BYTES:
                raise LeaseRecordError(
                    f"its {RECORD_FILE} is over the {MAX_RECORD_BYTES} byte limit"
                )
            content = self._local(["cat-file", "blob", blob], "read the lease commit")
            if content.returncode != 0:
                raise LeaseRecordError(f"its {RECORD_FILE} cannot be read")
            return LeaseRecord.from_json(content.stdout)
        except LeaseRecordError as error:
            remedy = (
                f"; if no apply is running, remove it with"
                f" `git push {self._shown_remote} :{self._ref}` and run again"
                if error.repairable
                else ""
            )
            raise LeaseRecordError(
                f"the writer lease on {self.describe()} (commit {sha[:12]}) cannot be read:"
                f" {error}{remedy}",
                repairable=error.repairable,
            ) from None

    def _commit(self, record: LeaseRecord) -> str:
        """An orphan commit whose tree is ``lease.json`` = ``record``; returns its sha."""
        data = record.to_json()
        blob = self._local_sha(["hash-object", "-w", "--stdin"], data)
        tree = self._local_sha(["mktree"], f"100644 blob {blob}\t{RECORD_FILE}\n".encode())
        held = "released" if record.holder is None else f"held by {record.holder.describe()}"
        return self._local_sha(
            # No signing: a configured commit.gpgSign would otherwise prompt for a passphrase.
            ["commit-tree", "--no-gpg-sign", "-m", f"reconcile lease: {held}", tree],
            None,
            extra_env=_IDENTITY,
        )

    def _local_sha(
        self, args: list[str], stdin: bytes | None, extra_env: dict[str, str] | None = None
    ) -> str:
        result = self._local(args, "write the lease commit", stdin=stdin, extra_env=extra_env)
        if result.returncode != 0 or not _SHA.fullmatch(result.text):
            raise LeaseUnavailableError(
                f"cannot write the lease commit in the git repository at {self._root}"
                f" (`git {args[0]}`): {_git_message(result)}"
            )
        return result.text

    def _local(
        self,
        args: list[str],
        purpose: str,
        *,
        stdin: bytes | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> _GitResult:
        try:
            return _run_git(
                self._root, args, timeout=self._timeout, stdin=stdin, extra_env=extra_env
            )
        except _GitCallError as error:
            raise LeaseUnavailableError(
                f"cannot {purpose} in the git repository at {self._root}: {error}"
            ) from None


def find_lease_remote(root: Path, configured: str | None) -> str | None:
    """The git remote that holds the lease of the checkout at ``root``, or None for none.

    ``configured`` wins when given (the literal "none" means: no remote, use the local lease).
    Otherwise: the remote of the current branch's upstream, else ``origin``, else the only
    remote. None when ``root`` is not in a git repository, git is missing, or no remote fits.
    """
    if configured is not None and configured.strip():
        return None if configured.strip() == "none" else configured.strip()
    remotes_result = _local_query(root, ["remote"])
    if remotes_result is None:
        return None
    remotes = remotes_result.text.split()
    if len(remotes) <= 1:
        # With one remote, the upstream's remote (if any) is that one: one git call suffices.
        return remotes[0] if remotes else None
    # %(upstream:remotename) is the branch's configured remote by name, so a remote whose
    # name contains "/" is read right (parsing "origin/main" from `@{u}` would not be).
    upstream = _local_query(
        root, ["for-each-ref", "--format=%(HEAD)%(upstream:remotename)", "refs/heads/"]
    )
    if upstream is not None:
        for line in upstream.text.splitlines():
            if line.startswith("*") and line[1:] in remotes:
                return line[1:]
    return "origin" if "origin" in remotes else None


def _local_query(root: Path, args: list[str]) -> _GitResult | None:
    try:
        result = _run_git(root, args, timeout=LOCAL_TIMEOUT_SECONDS)
    except _GitCallError as error:
        logger.debug("no git remote for the lease: %s", error)
        return None
    if result.returncode == 0:
        return result
    message = _git_message(result)
    if "not a git repository" not in message:
        # Not the plain "no repository here": e.g. git's "dubious ownership" refusal in a
        # container. The lease then falls back to the local file, which other machines do
        # not see, so say so.
        logger.warning(
            "cannot read the git remotes of %s (%s); the writer lease falls back to a local file",
            root,
            message,
        )
    return None
