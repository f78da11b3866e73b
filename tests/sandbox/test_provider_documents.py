"""The contract tests' copies of the provider documents stay what the project was given."""

from __future__ import annotations

import pytest
import yaml

from tests.sandbox.openapi_check import PROVIDER_DOCUMENTS, SHARED_PROVIDER_DOCUMENTS

DOCUMENTS = ("qubrid-openapi.yaml", "cohere-openapi-finetuning.yaml")


@pytest.mark.parametrize("filename", DOCUMENTS)
def test_the_copy_is_an_openapi_document_with_paths(filename: str) -> None:
    document = yaml.safe_load((PROVIDER_DOCUMENTS / filename).read_text(encoding="utf-8"))
    assert str(document["openapi"]).startswith("3.")
    assert document["paths"]


@pytest.mark.parametrize("filename", DOCUMENTS)
def test_the_copy_matches_the_shared_original_wherever_it_exists(filename: str) -> None:
    original = SHARED_PROVIDER_DOCUMENTS / filename
    copy = PROVIDER_DOCUMENTS / filename
    # In a plain clone (GitHub Actions) there is no shared/ folder: the copy is then the source.
    expected = original.read_bytes() if original.is_file() else copy.read_bytes()
    assert copy.read_bytes() == expected
