"""Settings: reconciler.yaml, the environment, the repository root, and masked keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import (
    Secret,
    Settings,
    find_repo_root,
    load_settings,
    plan_origin,
    read_settings,
)
from reconciler.core.diagnostics import InvalidInputError
from reconciler.core.spec import PROVIDERS
from reconciler.providers.profiles import PROFILES

KEYS = {
    "SEGMIND_API_KEY": "sg-secret-0001",
    "QUBRID_API_KEY": "qb-secret-0002",
    "COHERE_API_KEY": "co-secret-0003",
    "WANDB_API_KEY": "wb-secret-0004",
}


def test_defaults_without_reconciler_yaml(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert settings.root == tmp_path
    assert settings.config_file is None
    assert settings.spec_paths == (tmp_path / "specs",)
    assert settings.parallelism == 4
    assert settings.prune is False
    assert settings.watch_interval == 60.0
    assert settings.providers["segmind"].base_url == "https://api.segmind.com"
    assert settings.providers["qubrid"].base_url == "https://platform.qubrid.com/api/v1"
    assert settings.providers["cohere"].base_url == "https://api.cohere.com"
    assert (
        settings.providers["segmind"].api_key is None
        and settings.providers["segmind"].options.access is None
    )
    assert settings.providers["qubrid"].options.csv_columns == {
        "qa": ("question", "answer"),
        "not_qa": ("text",),
    }
    assert tuple(settings.providers) == PROVIDERS


def test_reconciler_yaml_sets_everything(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "spec_paths: [jobs, more/specs]\n"
        "parallelism: 8\n"
        "prune: true\n"
        "watch_interval: 30\n"
        "providers:\n"
        "  segmind: {base_url: 'http://127.0.0.1:8765/segmind/', access: public}\n"
        "  qubrid:\n"
        "    base_url: http://127.0.0.1:8765/qubrid\n"
        "    csv_columns: {qa: [prompt, completion]}\n"
        "  cohere: {base_url: 'http://127.0.0.1:8765/cohere'}\n"
    )
    # base_url in the file counts only where the environment trusts the file.
    settings = load_settings(tmp_path, environ={"RECONCILE_ALLOW_CONFIG_BASE_URLS": "1"})
    assert settings.config_file == tmp_path / "reconciler.yaml"
    assert settings.spec_paths == (tmp_path / "jobs", tmp_path / "more/specs")
    assert (settings.parallelism, settings.prune, settings.watch_interval) == (8, True, 30.0)
    assert (
        settings.providers["segmind"].base_url == "http://127.0.0.1:8765/segmind"
    )  # trailing / dropped
    assert settings.providers["segmind"].options.access == "public"
    assert settings.providers["qubrid"].options.csv_columns == {
        "qa": ("prompt", "completion"),
        "not_qa": ("text",),
    }
    assert settings.providers["cohere"].base_url == "http://127.0.0.1:8765/cohere"


def test_environment_base_urls_win_over_reconciler_yaml(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "providers:\n  qubrid: {base_url: 'https://from-file.example'}\n"
    )
    settings = load_settings(
        tmp_path,
        environ={"QUBRID_BASE_URL": "http://127.0.0.1:9/q", "SEGMIND_BASE_URL": ""},
    )
    assert settings.providers["qubrid"].base_url == "http://127.0.0.1:9/q"
    assert settings.providers["segmind"].base_url == PROFILES["segmind"].default_base_url


def test_api_keys_come_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ=KEYS)
    assert settings.providers["segmind"].api_key is not None
    assert settings.providers["segmind"].api_key.reveal() == "sg-secret-0001"
    assert settings.providers["qubrid"].api_key == Secret("qb-secret-0002")
    assert settings.providers["cohere"].api_key == Secret("co-secret-0003")
    assert settings.providers["cohere"].service_keys.get("wandb") == Secret("wb-secret-0004")


def test_cohere_key_falls_back_to_co_api_key(tmp_path: Path) -> None:
    only_co = load_settings(tmp_path, environ={"CO_API_KEY": "co-fallback"})
    assert only_co.providers["cohere"].api_key == Secret("co-fallback")
    both = load_settings(tmp_path, environ={"CO_API_KEY": "b", "COHERE_API_KEY": "a"})
    assert both.providers["cohere"].api_key == Secret("a")


def test_keys_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ=KEYS)
    providers = settings.providers
    shown = f"{settings!r} {settings!s} {providers['segmind']} {providers['cohere'].api_key}"
    for value in KEYS.values():
        assert value not in shown
    assert "****" in shown


def test_invalid_reconciler_yaml_lists_every_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text(
        "parallelism: many\nwatch_interval: 1\nproviders:\n  segmind: {acces: public}\n"
    )
    with pytest.raises(InvalidInputError) as caught:
        load_settings(tmp_path, environ={})
    assert [str(d) for d in caught.value.diagnostics] == [
        "reconciler.yaml:1:14: parallelism: expected a whole number, got the text `many`",
        "reconciler.yaml:2:17: watch_interval: 1 is out of range: must be >= 5 and <= 86400",
        "reconciler.yaml:4:13: providers.segmind.acces: unknown field `acces` in"
        " `providers.segmind` (did you mean `access`?); allowed: base_url, access",
    ]


def test_invalid_reconciler_yaml_falls_back_to_defaults_when_read(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text("parallelism: 0\n")
    settings, problems = read_settings(tmp_path, environ={})
    assert len(problems) == 1
    assert settings.parallelism == 4


def test_empty_reconciler_yaml_is_fine(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text("# nothing to set yet\n")
    assert load_settings(tmp_path, environ={}).parallelism == 4


def test_reconciler_yaml_with_two_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text("prune: true\n---\nprune: false\n")
    with pytest.raises(InvalidInputError) as caught:
        load_settings(tmp_path, environ={})
    assert [str(d) for d in caught.value.diagnostics] == [
        "reconciler.yaml:3:1: reconciler.yaml holds one YAML mapping, not several documents"
    ]


def test_reconciler_yaml_that_is_not_a_mapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text("- specs\n")
    with pytest.raises(InvalidInputError) as caught:
        load_settings(tmp_path, environ={})
    assert "must be a mapping" in caught.value.diagnostics[0].message


def test_bad_base_url_in_the_environment(tmp_path: Path) -> None:
    settings, problems = read_settings(tmp_path, environ={"COHERE_BASE_URL": "api.cohere.com"})
    assert [str(p) for p in problems] == [
        "environment:1:1: COHERE_BASE_URL: must be an http:// or https:// URL;"
        " fix or unset the variable"
    ]
    assert settings.providers["cohere"].base_url == PROFILES["cohere"].default_base_url


def test_repo_root_is_the_nearest_folder_with_git_or_reconciler_yaml(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    nested = tmp_path / "team"
    (nested / "specs/deep").mkdir(parents=True)
    (nested / "specs/deep/a.yaml").write_text("")
    assert find_repo_root([nested / "specs/deep/a.yaml"], cwd=tmp_path) == tmp_path
    (nested / "reconciler.yaml").write_text("")
    assert find_repo_root([nested / "specs/deep/a.yaml"], cwd=tmp_path) == nested
    assert find_repo_root([Path("team/specs")], cwd=tmp_path) == nested
    assert find_repo_root([], cwd=nested / "specs") == nested


def test_repo_root_falls_back_to_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    assert find_repo_root([Path("specs")], cwd=tmp_path) == tmp_path


def test_cohere_validation_poll_is_a_setting(tmp_path: Path) -> None:
    assert load_settings(tmp_path, environ={}).providers["cohere"].options.validation_poll == 2.0
    (tmp_path / "reconciler.yaml").write_text("providers:\n  cohere: {validation_poll: 0.5}\n")
    assert load_settings(tmp_path, environ={}).providers["cohere"].options.validation_poll == 0.5
    (tmp_path / "reconciler.yaml").write_text("providers:\n  cohere: {validation_poll: 0.01}\n")
    _, problems = read_settings(tmp_path, environ={})
    assert [p.field for p in problems] == ["providers.cohere.validation_poll"]


def test_the_waits_for_a_lost_answer_a_retry_and_a_held_lease_are_settings(
    tmp_path: Path,
) -> None:
    def waits(settings: Settings) -> tuple[float, float, float]:
        return settings.confirm_wait, settings.retry_wait, settings.lock_poll

    assert waits(load_settings(tmp_path, environ={})) == (7.5, 0.5, 1.0)
    (tmp_path / "reconciler.yaml").write_text(
        "confirm_wait: 0.3\nretry_wait: 0.01\nlock_poll: 0.05\n"
    )
    assert waits(load_settings(tmp_path, environ={})) == (0.3, 0.01, 0.05)
    (tmp_path / "reconciler.yaml").write_text("confirm_wait: -1\nretry_wait: 0\nlock_poll: 0\n")
    _, problems = read_settings(tmp_path, environ={})
    assert sorted(p.field for p in problems) == ["confirm_wait", "lock_poll", "retry_wait"]


def test_a_plan_records_each_providers_host_and_never_a_password_a_path_or_a_query(
    tmp_path: Path,
) -> None:
    secret_url = "https://user:hunter2@proxy.example:8443/api?sig=abc"
    settings = load_settings(tmp_path, environ={"SEGMIND_BASE_URL": secret_url})
    origin = plan_origin(settings, [tmp_path / "specs" / "a.yaml"], sandbox=False)
    assert origin.hosts == (
        ("cohere", "api.cohere.com"),
        ("qubrid", "platform.qubrid.com"),
        ("segmind", "proxy.example:8443"),
    )
    assert origin.paths == ("specs/a.yaml",)
    assert "hunter2" not in repr(origin) and "sig" not in repr(origin)
    sandboxed = plan_origin(settings, [], sandbox=True)
    assert sandboxed.hosts == () and sandboxed.paths == ("specs",)
