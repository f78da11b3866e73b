"""`reconcile schema [spec|config] [--out FILE]`: the schemas printed or written, from a checkout
and from an installed wheel, and a user repository's modeline pointing at the written copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.support.paths import REPO

SCHEMAS = REPO / "schemas"
MODELINE = "# yaml-language-server: $schema="


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((), "finetune.schema.json"),
        (("spec",), "finetune.schema.json"),
        (("config",), "config.schema.json"),
    ],
)
def test_schema_prints_the_schema_unchanged(args: tuple[str, ...], name: str) -> None:
    code, out, _ = run("schema", *args)
    assert code == 0
    assert out == (SCHEMAS / name).read_text(encoding="utf-8")


def test_out_writes_the_file_making_its_folders_and_replaces_an_older_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    target = Path("schemas/finetune.schema.json")
    code, out, _ = run("schema", "--out", str(target))
    assert (code, out) == (0, "wrote schemas/finetune.schema.json\n")
    assert target.read_bytes() == (SCHEMAS / "finetune.schema.json").read_bytes()
    target.write_text("{}")  # a copy from an older release
    assert run("schema", "spec", "--out", str(target))[0] == 0
    assert target.read_bytes() == (SCHEMAS / "finetune.schema.json").read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["finetune.schema.json"]


def test_out_into_a_folder_uses_the_schema_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("schema", "config", "--out", "new/")[1] == "wrote new/config.schema.json\n"
    Path("old").mkdir()
    assert run("schema", "--out", "old")[1] == "wrote old/finetune.schema.json\n"
    assert json.loads(Path("new/config.schema.json").read_text())["title"] == "reconciler.yaml"


def test_an_unwritable_out_is_one_line_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out, err = run("schema", "--out", str(blocker / "x.json"))
    assert (code, out) == (1, "")
    assert err.startswith(f"reconcile: cannot write {blocker / 'x.json'}: ")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_a_user_repository_modeline_reaches_the_written_copy(tmp_path: Path) -> None:
    # A repository with no copy of this one's schemas/: the documented two steps (docs/specs.md,
    # Editor support), then the modeline's path resolved as the editor resolves it.
    repo = tmp_path / "user-repo"
    (repo / "specs").mkdir(parents=True)
    assert run("schema", "--out", str(repo / "schemas" / "finetune.schema.json"))[0] == 0
    spec = repo / "specs" / "fox.yaml"
    spec.write_text(
        MODELINE + "../schemas/finetune.schema.json\n"
        "apiVersion: reconciler/v1\nkind: FineTune\nname: fox\nprovider: segmind\n"
        "base_model: FLUX_PRO\ndataset: {url: 'https://example.com/fox.zip'}\n"
        "instance_prompt: photo of TOK\nlifecycle: {allow_replace: yes}\n"
    )
    schema = spec.parent / spec.read_text().splitlines()[0].removeprefix(MODELINE)
    checked = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema), str(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 1
    assert "$.lifecycle.allow_replace: 'yes' is not of type 'boolean'" in checked.stdout


def test_the_wheel_carries_the_schemas_and_the_command_works_from_it(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"reconciler/_schemas/finetune.schema.json"} <= names
        assert {"reconciler/_schemas/config.schema.json"} <= names
        archive.extractall(installed)  # a pure-Python wheel: unpacked is installed
    # Run from elsewhere than the checkout, the unpacked package first on the path.
    environment = {**os.environ, "PYTHONPATH": str(installed)}
    program = (
        "import reconciler, sys; from reconciler.cli import main;"
        " print(reconciler.__file__, file=sys.stderr); main(['schema', 'config'])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr.startswith(str(installed / "reconciler"))
    assert shown.stdout == (SCHEMAS / "config.schema.json").read_text(encoding="utf-8")
