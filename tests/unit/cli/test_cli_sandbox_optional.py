"""The sandbox is optional: without the ``reconcile-finetune-sandbox`` distribution the command
line says what to install and exits 1 before doing anything, and ``--help`` never imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import main

INSTALL_HINT = "pip install ./packaging/sandbox"


@pytest.mark.parametrize(
    "args",
    [
        ["--sandbox"],
        ["--dry-run", "--sandbox"],
        ["plan", "--sandbox"],
        ["apply", "--sandbox"],
        ["status", "--sandbox"],
        ["--watch", "--sandbox"],
        ["import", "--provider", "segmind", "--sandbox"],
        ["sandbox"],
    ],
    ids=" ".join,
)
def test_without_the_sandbox_installed_the_command_says_what_to_install(
    args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    # None in sys.modules: what the import system reports for a package that is not installed.
    monkeypatch.setitem(sys.modules, "reconcile_sandbox", None)
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("reconcile: ") and err.count("\n") == 1, err
    assert "not installed" in err and INSTALL_HINT in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing ran: no state folder, no spec written


@pytest.mark.parametrize("args", [["--help"], ["plan", "--help"], ["sandbox", "--help"]])
def test_help_does_not_import_the_sandbox(args: list[str]) -> None:
    script = (
        "import contextlib, io, sys\n"
        "from reconciler.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({args!r})\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'reconcile_sandbox'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
