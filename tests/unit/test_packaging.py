"""Two distributions from one repository: the product (``pyproject.toml``) and the sandbox
(``packaging/sandbox/pyproject.toml``). The product's wheel leaves the emulator out, its
``sandbox`` extra names the sandbox's own version, and the sandbox declares what it imports and
registers its pytest plugin."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path
from typing import Any

from tests.support.paths import REPO

SANDBOX_PROJECT = REPO / "packaging" / "sandbox" / "pyproject.toml"


def project_file(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def requirement_name(requirement: str) -> str:
    for separator in "<>=!~;[ @":
        requirement = requirement.split(separator, 1)[0]
    return requirement.strip().lower().replace("_", "-")


def test_the_product_wheel_is_the_product_and_its_extra_names_the_sandbox_release() -> None:
    product = project_file(REPO / "pyproject.toml")
    sandbox = project_file(SANDBOX_PROJECT)
    assert product["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["reconciler"]
    assert product["project"]["optional-dependencies"]["sandbox"] == [
        f"{sandbox['project']['name']}=={sandbox['project']['version']}"
    ]


# Names on the public package index that belong to unrelated projects (checked with
# `pip index versions NAME` against pypi.org): a user installing one of them gets someone
# else's code.
TAKEN_ON_THE_PUBLIC_INDEX = {"reconciler", "reconcile"}


def test_the_distributions_have_names_of_their_own_and_the_command_stays_reconcile() -> None:
    product = project_file(REPO / "pyproject.toml")["project"]
    sandbox = project_file(SANDBOX_PROJECT)["project"]
    assert product["name"] not in TAKEN_ON_THE_PUBLIC_INDEX
    # Released together: the emulator's name says whose it is.
    assert sandbox["name"] == f"{product['name']}-sandbox"
    assert product["scripts"] == {"reconcile": "reconciler.cli:main"}
    assert importlib.metadata.distribution(product["name"]).entry_points.select(
        group="console_scripts", name="reconcile"
    )


def test_the_sandbox_declares_every_package_it_imports() -> None:
    imported: set[str] = set()
    for source in (REPO / "reconcile_sandbox").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.partition(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__", "reconcile_sandbox"}
    # pytest loads the plugin itself; the sandbox never needs it otherwise.
    third_party.discard("pytest")
    declared = {
        requirement_name(r) for r in project_file(SANDBOX_PROJECT)["project"]["dependencies"]
    }
    assert third_party <= declared, third_party - declared
    # Starlette imports it itself to parse the APIs' multipart and form bodies: not in the scan.
    assert "python-multipart" in declared


def test_the_pytest_plugin_comes_from_the_sandbox_distribution() -> None:
    sandbox = project_file(SANDBOX_PROJECT)
    declared = sandbox["project"]["entry-points"]["pytest11"]
    assert declared == {"reconcile_sandbox": "reconcile_sandbox.pytest_plugin"}
    installed = importlib.metadata.entry_points(group="pytest11", name="reconcile_sandbox")
    assert [entry.value for entry in installed] == ["reconcile_sandbox.pytest_plugin"]
    assert [entry.dist.name for entry in installed if entry.dist] == ["reconcile-finetune-sandbox"]
