"""Puts the repository's ``reconcile_sandbox/`` package into a regular wheel of this project.

The package sits at the repository's top level, two folders up from this project file. Only a
regular wheel gets a copy: hatchling would also copy a static ``force-include`` into an editable
wheel, where it would shadow the sources that ``dev-mode-dirs`` puts on the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE = Path(__file__).resolve().parents[2] / "reconcile_sandbox"


class SandboxPackageHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            build_data["force_include"][str(PACKAGE)] = PACKAGE.name
