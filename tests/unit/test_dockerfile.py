"""The container image's recipe, read rather than built: no image can be pulled here, so the
``Dockerfile`` at the repository root is parsed (``dockerfile-parse``) and held to what the
daemon needs (``git`` and ``ssh`` for ``--pull``, a non-root user with the UID that
docs/daemon.md's Kubernetes example runs as) and to what keeps it small and clean (the final
stage installs the product's wheel and nothing else, apt lists removed, no secret baked in).
``.dockerignore`` keeps the virtualenv, git's objects, the state folder and the test data out of
the build context."""

from __future__ import annotations

import fnmatch
import io
import json
import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath

import pytest
from dockerfile_parse import DockerfileParser

from tests.support.paths import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DAEMON_DOC = REPO / "docs" / "daemon.md"


@dataclass(frozen=True)
class Instruction:
    name: str
    value: str
    line: int

    def __str__(self) -> str:
        return f"Dockerfile:{self.line}: {self.name} {self.value}"


@dataclass(frozen=True)
class Stage:
    image: str
    alias: str | None
    instructions: tuple[Instruction, ...]

    def all(self, name: str) -> list[Instruction]:
        return [i for i in self.instructions if i.name == name]


@cache
def stages() -> tuple[Stage, ...]:
    assert DOCKERFILE.is_file(), (
        f"no Dockerfile at the repository root ({DOCKERFILE}): the image that docs/daemon.md's "
        "Kubernetes and systemd examples run is built from it"
    )
    parser = DockerfileParser(fileobj=io.BytesIO(DOCKERFILE.read_bytes()))
    found: list[Stage] = []
    image, alias = "", None
    body: list[Instruction] = []
    for item in parser.structure:
        instruction = Instruction(item["instruction"], item["value"], item["startline"] + 1)
        if instruction.name == "FROM":
            if image:
                found.append(Stage(image, alias, tuple(body)))
            words = [w for w in instruction.value.split() if not w.startswith("--")]
            image = words[0]
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            body = []
        elif instruction.name != "COMMENT":
            body.append(instruction)
    assert image, "the Dockerfile has no FROM"
    found.append(Stage(image, alias, tuple(body)))
    return tuple(found)


def final() -> Stage:
    return stages()[-1]


def exec_form(instruction: Instruction) -> list[str]:
    try:
        words = json.loads(instruction.value)
    except ValueError:
        words = None
    assert isinstance(words, list), (
        f"{instruction}: use the exec (JSON) form, so the daemon is PID 1 and gets SIGTERM "
        "itself instead of a shell that does not pass it on"
    )
    return [str(w) for w in words]


def test_it_has_a_build_stage_and_a_final_stage_on_a_pinned_python_3_11() -> None:
    assert len(stages()) >= 2, "a multi-stage build: the wheel is built in a stage of its own"
    aliases = {s.alias for s in stages() if s.alias}
    for stage in stages():
        if stage.image in aliases:
            continue
        name, _, digest = stage.image.partition("@")
        repository, _, tag = name.partition(":")
        assert repository in {"python", "docker.io/library/python"}, stage.image
        assert tag.startswith("3.11"), f"{stage.image}: requires-python is >=3.11, CI runs 3.11"
        exact = re.fullmatch(r"3\.11\.\d+-slim-[a-z]+", tag) is not None
        pinned = re.fullmatch(r"sha256:[0-9a-f]{64}", digest) is not None
        assert pinned or exact, (
            f"{stage.image}: pin the base image by digest, or at least by an exact patch "
            "release and Debian release (3.11.N-slim-<debian>): a floating tag rebuilds "
            "differently from one day to the next"
        )


def test_the_final_stage_runs_as_a_fixed_non_root_uid_the_kubernetes_example_uses() -> None:
    users = final().all("USER")
    assert users, "the final stage has no USER: the daemon would run as root"
    user = users[-1].value.split(":")[0]
    assert user.isdigit(), (
        f"{users[-1]}: give a numeric UID, so Kubernetes' runAsNonRoot can check it and "
        "mounted checkouts can be chowned to it"
    )
    assert int(user) != 0, f"{users[-1]}: runs as root"
    documented = re.findall(r"runAsUser: (\d+)", DAEMON_DOC.read_text(encoding="utf-8"))
    assert documented == [user], (
        f"docs/daemon.md's Kubernetes example runs as {documented}, the image as {user}"
    )
    after = final().instructions[final().instructions.index(users[-1]) + 1 :]
    assert not [i for i in after if i.name == "RUN"], "nothing runs as the user but the daemon"


def apt_runs() -> list[Instruction]:
    return [i for s in stages() for i in s.all("RUN") if "apt-get" in i.value]


def test_git_and_openssh_client_are_installed_small_and_the_apt_lists_removed() -> None:
    installed: set[str] = set()
    for run in final().all("RUN"):
        for command in re.split(r"&&|;|\|\|", run.value):
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"]:
                assert "--no-install-recommends" in words, f"{run}: recommends make it large"
                installed.update(w for w in words[2:] if not w.startswith("-"))
    assert {"git", "openssh-client"} <= installed, (
        f"the final stage installs {sorted(installed)}: `reconcile --watch --pull` runs git, "
        "and git over ssh pushes the writer lease"
    )
    for run in apt_runs():
        if "apt-get update" in run.value:
            assert "rm -rf /var/lib/apt/lists/*" in run.value, (
                f"{run}: remove the apt lists in the same RUN, or they stay in the layer"
            )


def test_the_final_stage_installs_the_product_wheel_and_nothing_else() -> None:
    builders = {s.alias for s in stages()[:-1] if s.alias}
    copies = final().all("COPY") + final().all("ADD")
    assert copies, "the final stage installs nothing from the build stage"
    for copy in copies:
        words = copy.value.split()
        sources = [w for w in words[:-1] if not w.startswith("--")]
        origin = [w.split("=", 1)[1] for w in words if w.startswith("--from=")]
        assert copy.name == "COPY" and origin and origin[0] in builders, (
            f"{copy}: the final stage copies only from the build stage, not the checkout"
        )
        assert sources and all(s.endswith(".whl") for s in sources), f"{copy}: copy the wheel only"
    installs = [r for r in final().all("RUN") if "pip" in r.value]
    assert installs, "the final stage never pip-installs the wheel"
    for run in installs:
        assert ".whl" in run.value and "--no-cache-dir" in run.value, run
        for unwanted in ("sandbox", "[test", "-e ", "requirements"):
            assert unwanted not in run.value, (
                f"{run}: the image carries the product only (no emulator, no test tools)"
            )


def test_the_entrypoint_is_reconcile_and_the_default_is_the_daemon() -> None:
    entrypoints = final().all("ENTRYPOINT")
    assert entrypoints, "no ENTRYPOINT: `docker run IMAGE validate` should run `reconcile`"
    assert exec_form(entrypoints[-1]) == ["reconcile"], entrypoints[-1]
    commands = final().all("CMD")
    assert commands and exec_form(commands[-1]) == ["--watch"], (
        'CMD ["--watch"]: the image runs the daemon unless told otherwise'
    )
    # /healthz is served only with --listen, which the default command has not: a HEALTHCHECK
    # would mark every container started the default way unhealthy.
    assert not final().all("HEALTHCHECK"), "a HEALTHCHECK needs a --listen the CMD has not"


def test_nothing_is_downloaded_by_add_and_no_secret_is_baked_in() -> None:
    for stage in stages():
        for add in stage.all("ADD"):
            assert not re.search(r"(https?|ftp)://|git@", add.value), (
                f"{add}: ADD of a URL is unchecked and uncached; download in a RUN with a "
                "checksum, or not at all"
            )
        for setting in stage.all("ENV") + stage.all("ARG"):
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)", setting.value)
            for name in names:
                assert not re.search(r"KEY|TOKEN|SECRET|PASSWORD", name, re.I), (
                    f"{setting}: {name} would sit in the image's history for anyone who pulls "
                    "it; pass keys at run time (docker run --env-file, a Kubernetes Secret)"
                )


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` out of the build context: the last pattern matching the
    path, or a folder above it, decides; `!` takes it back in (a close reading of Docker's
    rules for the patterns this repository uses)."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        bare = pattern.removeprefix("!").strip("/")
        if any(fnmatch.fnmatchcase(p, bare) for p in prefixes):
            verdict = not negated
    return verdict


def dockerignore() -> list[str]:
    assert DOCKERIGNORE.is_file(), (
        "no .dockerignore: `docker build .` would send .venv, .git and .reconcile/ (caches, "
        "the sandbox's state) as the build context"
    )
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/config",
        ".reconcile/sandbox/state.json",
        "tests/bad_specs/unknown-field.yaml",
        "datasets/support-qa.csv",
        "reconciler/__pycache__/cli.cpython-311.pyc",
        ".env",
    ],
)
def test_the_build_context_leaves_out(path: str) -> None:
    assert ignored(path, dockerignore()), f".dockerignore lets {path} into the build context"


@pytest.mark.parametrize(
    "path", ["pyproject.toml", "README.md", "reconciler/cli.py", "schemas/finetune.schema.json"]
)
def test_the_build_context_keeps_what_the_wheel_is_built_from(path: str) -> None:
    assert (REPO / path).exists(), path
    assert not ignored(path, dockerignore()), f".dockerignore leaves out {path}: no wheel"


def test_the_daemon_docs_run_the_image_this_dockerfile_builds() -> None:
    doc = DAEMON_DOC.read_text(encoding="utf-8")
    built = re.findall(r"^docker build -t (\S+) \.$", doc, re.M)
    assert built == ["reconcile:local"], "daemon.md builds the image: docker build -t ... ."
    pushed = re.findall(r"^docker push (\S+)$", doc, re.M)
    assert len(pushed) == 1, "daemon.md says how to push the image to the user's registry"
    images = re.findall(r"^\s+image: (\S+)", doc, re.M)
    assert images and set(images) == set(pushed), (
        f"the Kubernetes example runs {sorted(set(images))}, the image pushed is {pushed}"
    )
    unit = doc[doc.index("[Unit]") : doc.index("[Install]")]
    assert re.search(r"ExecStart=/usr/bin/docker run .*\breconcile:local --watch", unit, re.S), (
        "the systemd unit runs the image built above"
    )
    # systemd takes the rest of a line as the value: a `# comment` after it is part of it.
    assert not re.search(r"^\w+=.*\s#", unit, re.M), "systemd has no comments after a value"
