"""A dataset edited in place, to the same size, between the plan and its upload.

The edit happens at the moment the upload request goes out (a transport hook, before the
body is read), which is the latest a user's editor or a script could change it. The plan's
fingerprint no longer describes the bytes: the upload must stop before its end, the provider
must store nothing, and the adapter must raise a ``PermanentError`` saying to plan again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.config import ProviderSettings
from reconciler.providers.base import PermanentError
from reconciler.providers.cohere.adapter import CohereClient
from reconciler.providers.cohere.profile import CohereOptions
from reconciler.providers.http import RetryPolicy
from reconciler.providers.qubrid.adapter import QubridClient
from reconciler.providers.segmind.adapter import SegmindClient
from tests.support.providers import (
    chat_jsonl,
    cohere_settings,
    desired_for,
    image_folder,
    qa_csv,
    qubrid_settings,
    segmind_settings,
    spec,
    upload_for,
)


class _EditWhenSent(httpx.BaseTransport):
    """Runs ``edit`` once, when the first request ``is_upload`` picks goes out, before its
    body is read; remembers that request's URL."""

    def __init__(self, is_upload: Callable[[httpx.Request], bool], edit: Callable[[], None]):
        self.inner = httpx.HTTPTransport()
        self.is_upload = is_upload
        self.edit: Callable[[], None] | None = edit
        self.uploaded_to: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.is_upload(request):
            self.uploaded_to.append(str(request.url))
            if self.edit is not None:
                edit, self.edit = self.edit, None
                edit()
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def _same_size_edit(path: Path) -> Callable[[], None]:
    """Flip one byte in the middle of ``path``: the size stays, the content does not."""

    def edit() -> None:
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle] = ord("X") if data[middle] != ord("X") else ord("Y")
        path.write_bytes(bytes(data))

    return edit


def test_qubrid_stops_an_upload_whose_file_changed_to_the_same_size(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    csv = qa_csv(tmp_path, rows=20_000)
    desired = desired_for(
        spec("qubrid", "support-bot", csv, base_model="meta-llama/Llama-3.2-1B", task_type="qa")
    )
    size = csv.stat().st_size
    transport = _EditWhenSent(
        lambda r: r.method == "POST" and r.url.path.endswith("/fine-tuning/datasets"),
        _same_size_edit(csv),
    )
    client = QubridClient(qubrid_settings(sandbox), retry=fast_retry, transport=transport)
    with pytest.raises(PermanentError, match="fingerprint") as raised:
        client.upload_dataset(upload_for(desired), desired)
    assert "plan again" in str(raised.value)
    assert csv.stat().st_size == size and len(transport.uploaded_to) == 1
    assert client.observe().datasets == ()  # the provider kept nothing


def test_cohere_stops_an_upload_whose_file_changed_to_the_same_size(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    jsonl = chat_jsonl(tmp_path, conversations=2_000)
    desired = desired_for(
        spec(
            "cohere",
            "helpdesk-chat",
            jsonl,
            base_model="command-r",
            base_type="BASE_TYPE_CHAT",
            dataset_type="chat-finetune-input",
        )
    )
    transport = _EditWhenSent(
        lambda r: r.method == "POST" and r.url.path.endswith("/v1/datasets"),
        _same_size_edit(jsonl),
    )
    settings: ProviderSettings[CohereOptions] = cohere_settings(sandbox)
    client = CohereClient(
        settings,
        retry=fast_retry,
        transport=transport,
        poll_seconds=0.01,
        validation_timeout=2.0,
    )
    with pytest.raises(PermanentError, match="fingerprint"):
        client.upload_dataset(upload_for(desired), desired)
    assert len(transport.uploaded_to) == 1
    key = sandbox.keys["cohere"]
    listed = httpx.get(
        f"{sandbox.base_url('cohere')}/v1/datasets", headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert listed.get("datasets", []) == []


@pytest.mark.parametrize("edited", ["img1.png", "img2.txt"])
def test_segmind_stops_a_zip_whose_folder_changed_to_the_same_size(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path, edited: str
) -> None:
    folder = image_folder(tmp_path)
    desired = desired_for(
        spec(
            "segmind",
            "mascot-flux-pro",
            folder,
            base_model="FLUX_PRO",
            trigger_word="TOK",
            instance_prompt="photo of TOK",
            theme="CHARACTER",
        )
    )
    # Edited after the plan and before the upload begins: the zip is laid out (CRCs and all)
    # from the edited files, so only the fingerprint can tell.
    _same_size_edit(folder / edited)()
    transport = _EditWhenSent(
        lambda r: r.method == "PUT" and r.url.path.startswith("/_objects/"), lambda: None
    )
    client = SegmindClient(segmind_settings(sandbox), retry=fast_retry, transport=transport)
    with pytest.raises(PermanentError, match="fingerprint"):
        client.upload_dataset(upload_for(desired), desired)
    (url,) = transport.uploaded_to
    objects = sandbox.sandbox.objects
    located = objects.locate(url)
    assert located is not None
    assert objects.head(*located) is None  # the storage kept nothing


def test_an_unchanged_dataset_uploads_as_before(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    csv = qa_csv(tmp_path, rows=20_000)
    desired = desired_for(
        spec("qubrid", "support-bot", csv, base_model="meta-llama/Llama-3.2-1B", task_type="qa")
    )
    client = QubridClient(qubrid_settings(sandbox), retry=fast_retry)
    dataset_id = client.upload_dataset(upload_for(desired), desired)
    stored = sandbox.control.get("qubrid", "datasets", dataset_id)["row"]
    assert stored["size_bytes"] == csv.stat().st_size
