"""Files a pull request controls: what `validate` and a plan read, and what they quote.

In CI a pull request's author controls every file of the checkout (specs, ``reconciler.yaml``,
symlinks, FIFOs made by a build step) while the job holds the keys and posts the output. Each
test runs the console entry point in a child process, as CI does, with a timeout, so that a
read that blocks fails the test instead of hanging the suite, and reads everything it prints:

- a file outside the repository (a symlinked spec, ``spec_paths`` naming ``/abs/file`` or
  ``../file``, a symlinked folder, a dataset behind a link) is refused or skipped by name, and
  no byte of it is printed, in any output format;
- git's own files are never read as specs or data, and a file that is no spec is never quoted;
- a FIFO is refused at once, never waited on;
- discovery takes ``*.YAML`` as well, follows symlinks that stay inside the repository, and
  says what it skipped;
- a name with a trailing newline and a 5,000-digit number are positioned diagnostics.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.repos import mark_repository

SENTINEL = "SENTINEL-7f3a9c-do-not-print"
SECRET = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    f"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ {SENTINEL}\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
HEADER = "apiVersion: reconciler/v1\nkind: FineTune\n"
QUBRID = (
    HEADER + "name: {name}\nprovider: qubrid\nbase_model: m\ndataset: {dataset}\ntask_type: qa\n"
)
CSV = "question,answer\nWhat?,That.\nWhy?,Because.\n"
FORMATS = ("text", "json", "markdown")


def run(repo: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``reconcile ARGS`` in ``repo`` in a child process; a run longer than ``timeout`` fails
    the test (``TimeoutExpired``). No provider key or URL of this environment is passed on,
    and the cache key lives in the test's own folder."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL")) and key != "CO_API_KEY"
    }
    env["XDG_CACHE_HOME"] = str(repo.parent / "xdg-cache")
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-c", "from reconciler.cli import main; main()", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def printed(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one valid spec (so a plan has something to show) and its dataset."""
    root = mark_repository(tmp_path / "repo")
    (root / "datasets").mkdir()
    (root / "datasets" / "qa.csv").write_text(CSV)
    (root / "specs").mkdir()
    (root / "specs" / "qa.yaml").write_text(QUBRID.format(name="qa", dataset="../datasets/qa.csv"))
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the repository holding a private key (as ~/.ssh would)."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "id_ed25519").write_text(SECRET)
    (folder / f"{SENTINEL}.csv").write_text(CSV)
    return folder


def commands(*paths: str) -> list[list[str]]:
    """``validate`` and a sandboxed dry run in every output format, over ``paths``."""
    plans = [["--dry-run", "--sandbox", "-o", output, *paths] for output in FORMATS]
    return [["validate", *paths], *plans]


# --- Files outside the repository ------------------------------------------------------------


def test_a_spec_symlinked_out_of_the_repository_is_refused_by_name(
    repo: Path, outside: Path
) -> None:
    (repo / "specs" / "key.yaml").symlink_to(outside / "id_ed25519")
    for args in commands("specs/key.yaml"):
        result = run(repo, *args)
        assert result.returncode == 1, printed(result)
        assert SENTINEL not in printed(result)
        assert "OPENSSH" not in printed(result)
        assert "specs/key.yaml:1:1: leads outside the repository" in result.stderr, args


def test_a_symlinked_spec_met_in_a_search_is_skipped_with_a_note(repo: Path, outside: Path) -> None:
    (repo / "specs" / "key.yaml").symlink_to(outside / "id_ed25519")
    for args in commands():
        result = run(repo, *args)
        assert result.returncode == 0, printed(result)
        assert SENTINEL not in printed(result)
        assert (
            "reconcile: note: specs/key.yaml: not read: a symlink that leads outside the"
            " repository" in result.stderr
        ), args


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_spec_paths_out_of_the_repository_are_refused_by_name(
    repo: Path, outside: Path, how: str
) -> None:
    written = str(outside / "id_ed25519") if how == "absolute" else "../outside/id_ed25519"
    (repo / "reconciler.yaml").write_text(f"owner: test-repo\nspec_paths: [{written}]\n")
    for args in commands():
        result = run(repo, *args)
        assert result.returncode == 1, printed(result)
        assert SENTINEL not in printed(result)
        assert "OPENSSH" not in printed(result)
        assert "reconciler.yaml:2:14: spec_paths[0]: a spec path is relative" in result.stderr


def test_a_spec_path_through_a_symlinked_folder_out_of_the_repository_is_refused(
    repo: Path, outside: Path
) -> None:
    (repo / "linked").symlink_to(outside, target_is_directory=True)
    (repo / "reconciler.yaml").write_text("owner: test-repo\nspec_paths: [linked/id_ed25519]\n")
    for args in commands():
        result = run(repo, *args)
        assert result.returncode == 1, printed(result)
        assert SENTINEL not in printed(result)
        assert "linked/id_ed25519:1:1: leads outside the repository" in result.stderr, args


def test_a_file_named_outside_the_repository_on_the_command_line_is_refused(
    repo: Path, outside: Path
) -> None:
    result = run(repo, "validate", "specs", str(outside / "id_ed25519"))
    assert result.returncode == 1
    assert SENTINEL not in printed(result)
    assert f"{outside / 'id_ed25519'}:1:1: leads outside the repository" in result.stderr


def test_git_files_are_never_read_as_specs(repo: Path) -> None:
    # actions/checkout keeps the job's token in .git/config (http.extraheader).
    (repo / ".git" / "config").write_text(
        f'[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic {SENTINEL}\n'
    )
    (repo / "reconciler.yaml").write_text("owner: test-repo\nspec_paths: [.git/config]\n")
    result = run(repo, "validate")
    assert result.returncode == 1
    assert SENTINEL not in printed(result)
    assert ".git/config:1:1: leads into .git/ or .reconcile/" in result.stderr


def test_a_file_that_is_no_spec_is_not_quoted(repo: Path) -> None:
    # One line of text is one YAML string: the whole file would be "the value".
    (repo / "notes.txt").write_text(f"deploy token for the bucket is {SENTINEL} do not share\n")
    (repo / "reconciler.yaml").write_text("owner: test-repo\nspec_paths: [notes.txt]\n")
    result = run(repo, "validate")
    assert result.returncode == 1
    assert SENTINEL not in printed(result)
    assert "notes.txt:1:1: a spec document is a mapping" in result.stderr
    assert "found a single text" in result.stderr


def test_a_dataset_behind_a_symlinked_folder_names_nothing_outside(
    repo: Path, outside: Path
) -> None:
    # The file does not exist: the message must not list what is near it, outside.
    (repo / "datasets" / "linked").symlink_to(outside, target_is_directory=True)
    near = f"../datasets/linked/{SENTINEL[:-1]}.csv"
    (repo / "specs" / "qa.yaml").write_text(QUBRID.format(name="qa", dataset=near))
    result = run(repo, "validate")
    assert result.returncode == 1
    assert SENTINEL not in printed(result)
    assert f"specs/qa.yaml:6:10: dataset: `{near}` leads through a symlink" in result.stderr


def test_a_dataset_in_git_files_is_refused(repo: Path) -> None:
    (repo / ".git" / "data.csv").write_text(CSV)
    (repo / "specs" / "qa.yaml").write_text(QUBRID.format(name="qa", dataset="../.git/data.csv"))
    result = run(repo, "validate")
    assert result.returncode == 1
    assert "specs/qa.yaml:6:10: dataset: `../.git/data.csv` leads into .git/" in result.stderr


# --- Special files ---------------------------------------------------------------------------


def test_a_fifo_in_specs_is_skipped_at_once_with_a_note(repo: Path) -> None:
    os.mkfifo(repo / "specs" / "pipe.yaml")
    result = run(repo, "validate", timeout=30)
    assert result.returncode == 0, printed(result)
    assert "reconcile: note: specs/pipe.yaml: not read: it is a FIFO (named pipe)" in (
        result.stderr
    )


def test_a_fifo_named_explicitly_is_refused_at_once(repo: Path) -> None:
    os.mkfifo(repo / "specs" / "pipe.yaml")
    result = run(repo, "validate", "specs/pipe.yaml", timeout=30)
    assert result.returncode == 1
    assert "specs/pipe.yaml:1:1: is a FIFO (named pipe), not a regular file" in result.stderr


def test_a_fifo_as_reconciler_yaml_spec_path_or_dataset_never_blocks(repo: Path) -> None:
    os.mkfifo(repo / "pipe.csv")
    (repo / "specs" / "qa.yaml").write_text(QUBRID.format(name="qa", dataset="../pipe.csv"))
    (repo / "reconciler.yaml").write_text("owner: test-repo\nspec_paths: [specs, pipe.csv]\n")
    result = run(repo, "validate", timeout=30)
    assert result.returncode == 1
    assert "pipe.csv:1:1: is a FIFO (named pipe), not a regular file" in result.stderr
    assert "specs/qa.yaml:6:10: dataset: `../pipe.csv` is a FIFO (named pipe)" in result.stderr


# --- Discovery -------------------------------------------------------------------------------


def test_spec_extensions_are_found_in_any_case(repo: Path) -> None:
    (repo / "specs" / "upper.YAML").write_text(
        QUBRID.format(name="upper", dataset="../datasets/qa.csv")
    )
    (repo / "specs" / "mixed.Yml").write_text(
        QUBRID.format(name="mixed", dataset="../datasets/qa.csv")
    )
    result = run(repo, "validate")
    assert result.returncode == 0, printed(result)
    assert result.stdout == "ok: 3 specs in 3 files valid\n"


def test_a_symlinked_folder_inside_the_repository_is_followed(repo: Path) -> None:
    (repo / "team-a").mkdir()
    (repo / "team-a" / "a.yaml").write_text(QUBRID.format(name="a", dataset="../datasets/qa.csv"))
    (repo / "specs" / "team-a").symlink_to("../team-a", target_is_directory=True)
    (repo / "specs" / "loop").symlink_to(".", target_is_directory=True)  # searched once
    result = run(repo, "validate")
    assert result.returncode == 0, printed(result)
    assert result.stdout == "ok: 2 specs in 2 files valid\n"


def test_a_symlinked_folder_out_of_the_repository_is_noted_not_read(
    repo: Path, outside: Path
) -> None:
    (outside / "stolen.yaml").write_text(SECRET)
    (repo / "specs" / "linked").symlink_to(outside, target_is_directory=True)
    result = run(repo, "validate")
    assert result.returncode == 0, printed(result)
    assert SENTINEL not in printed(result)
    assert result.stdout == "ok: 1 spec in 1 file valid\n"
    assert (
        "reconcile: note: specs/linked: not read: a symlinked folder that leads outside the"
        " repository" in result.stderr
    )


# --- Values that passed validate and broke a plan ----------------------------------------------


def test_a_name_with_a_trailing_newline_is_refused_where_it_is_written(repo: Path) -> None:
    (repo / "specs" / "qa.yaml").write_text(
        HEADER + "name: |\n  qa\nprovider: qubrid\nbase_model: m\n"
        "dataset: ../datasets/qa.csv\ntask_type: qa\n"
    )
    result = run(repo, "validate")
    assert result.returncode == 1
    assert result.stderr.startswith("specs/qa.yaml:3:7: name: a qubrid job name is"), result.stderr


def test_a_5000_digit_number_is_a_positioned_diagnostic(repo: Path) -> None:
    (repo / "specs" / "qa.yaml").write_text(
        QUBRID.format(name="qa", dataset="../datasets/qa.csv")
        + f"parameters:\n  epochs: {'9' * 5000}\n"
    )
    for args in (["validate"], ["--dry-run", "--sandbox"]):
        result = run(repo, *args)
        assert result.returncode == 1
        assert "internal error" not in printed(result)
        lines = result.stderr.splitlines()
        assert lines[0] == (
            "specs/qa.yaml:9:11: parameters.epochs: a number of 5,000 characters is beyond"
            " anything a spec takes; write a smaller number"
        )
        assert len(lines) == 2  # the one problem, and the summary
