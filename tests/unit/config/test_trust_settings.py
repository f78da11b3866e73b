"""The settings a pull request's author cannot use against CI: keys read once and cleanly from
the environment, and base URLs (where keys are sent) that the repository cannot choose."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import load_settings, read_settings
from reconciler.core.diagnostics import InvalidInputError
from reconciler.providers.profiles import PROFILES
from reconciler.redact import redact

SENTINEL = "sk-SENTINEL-trust-0001"


@pytest.mark.parametrize(
    "raw", [f"{SENTINEL}\n", f"{SENTINEL}\r\n", f"\t{SENTINEL}\t", f" {SENTINEL} "]
)
def test_surrounding_whitespace_is_stripped_from_every_key(tmp_path: Path, raw: str) -> None:
    variables = ("SEGMIND_API_KEY", "QUBRID_API_KEY", "COHERE_API_KEY", "WANDB_API_KEY")
    settings = load_settings(tmp_path, environ=dict.fromkeys(variables, raw))
    keys = (
        settings.providers["segmind"].api_key,
        settings.providers["qubrid"].api_key,
        settings.providers["cohere"].api_key,
        settings.providers["cohere"].service_keys.get("wandb"),
    )
    assert [key.reveal() if key else None for key in keys] == [SENTINEL] * 4


def test_cohere_falls_back_to_co_api_key_stripped(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={"CO_API_KEY": f"{SENTINEL}\n"})
    assert settings.providers["cohere"].api_key is not None
    assert settings.providers["cohere"].api_key.reveal() == SENTINEL


@pytest.mark.parametrize(
    "raw",
    [
        "sk-SENTINEL-in ner-0002",
        "sk-SENTINEL-in\nner-0003",
        "sk-SENTINEL-in\tner-0004",
        "sk-SENTINEL-inner-0005\x1b[2J",
        "sk-SENTINEL-inner-0006\u00e9",
        "sk-SENTINEL-inner-0007\u202e",
    ],
)
def test_a_key_with_anything_inside_is_refused_naming_the_variable_only(
    tmp_path: Path, raw: str
) -> None:
    settings, problems = read_settings(tmp_path, environ={"QUBRID_API_KEY": raw})
    assert settings.providers["qubrid"].api_key is None
    assert [(p.file, p.field) for p in problems] == [("environment", "QUBRID_API_KEY")]
    message = str(problems[0])
    assert "SENTINEL" not in message and "inner" not in message and "ner-" not in message
    assert "set it to the key alone" in message
    # The refused value is masked wherever something might still print it, in any form.
    assert "SENTINEL" not in redact(f"header value {raw!r} / {raw.encode()!r} / {raw}")


def test_a_key_of_only_whitespace_is_refused(tmp_path: Path) -> None:
    settings, problems = read_settings(tmp_path, environ={"SEGMIND_API_KEY": " \n"})
    assert settings.providers["segmind"].api_key is None
    assert [str(p) for p in problems] == [
        "environment:1:1: SEGMIND_API_KEY: is empty (surrounding whitespace is removed);"
        " set it to the key alone"
    ]


def test_a_base_url_in_reconciler_yaml_is_refused_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "owner: acme\nproviders:\n  cohere:\n    base_url: http://127.0.0.1:9/capture\n"
    )
    settings, problems = read_settings(tmp_path, environ={})
    assert settings.providers["cohere"].base_url == PROFILES["cohere"].default_base_url
    assert [(p.line, p.col, p.field) for p in problems] == [(4, 15, "providers.cohere.base_url")]
    assert "COHERE_BASE_URL" in problems[0].message
    assert "RECONCILE_ALLOW_CONFIG_BASE_URLS=1" in problems[0].message
    with pytest.raises(InvalidInputError):
        load_settings(tmp_path, environ={})


def test_the_default_base_url_written_out_is_not_a_problem(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "providers:\n  segmind: {base_url: 'https://api.segmind.com/'}\n"
    )
    settings = load_settings(tmp_path, environ={})
    assert settings.providers["segmind"].base_url == PROFILES["segmind"].default_base_url


def test_the_environment_may_trust_reconciler_yaml_base_urls(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "providers:\n  qubrid: {base_url: 'https://qubrid.internal.example/api/v1'}\n"
    )
    settings = load_settings(tmp_path, environ={"RECONCILE_ALLOW_CONFIG_BASE_URLS": "1"})
    assert settings.providers["qubrid"].base_url == "https://qubrid.internal.example/api/v1"


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.5/segmind", "http://sandbox:8080", "http://127.0.0.1.evil.example/x"],
)
def test_plain_http_is_refused_off_loopback_even_from_the_environment(
    tmp_path: Path, url: str
) -> None:
    settings, problems = read_settings(tmp_path, environ={"SEGMIND_BASE_URL": url})
    assert settings.providers["segmind"].base_url == PROFILES["segmind"].default_base_url
    assert [(p.file, p.field) for p in problems] == [("environment", "SEGMIND_BASE_URL")]
    assert "loopback" in problems[0].message


def test_plain_http_off_loopback_is_refused_in_a_trusted_file_too(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "providers:\n  segmind: {base_url: 'http://192.168.1.2'}\n"
    )
    _, problems = read_settings(tmp_path, environ={"RECONCILE_ALLOW_CONFIG_BASE_URLS": "1"})
    assert [p.field for p in problems] == ["providers.segmind.base_url"]
    assert "loopback" in problems[0].message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/segmind",
        "http://127.5.6.7/x",
        "http://localhost:1",
        "http://[::1]:8080/x",
        "https://anywhere.example",
    ],
)
def test_loopback_and_https_base_urls_are_accepted(tmp_path: Path, url: str) -> None:
    settings = load_settings(tmp_path, environ={"SEGMIND_BASE_URL": url})
    assert settings.providers["segmind"].base_url == url
