"""Every provider the contract suite runs against: the real three, and the test-only fourth.

A new provider adds its harness here (docs/adding-a-provider.md).
"""

from __future__ import annotations

from tests.contract.harness import Harness
from tests.contract.sandbox_harnesses import (
    CohereHarness,
    QubridHarness,
    SegmindHarness,
)
from tests.contract.stub_harness import StubHarness

HARNESSES: tuple[type[Harness], ...] = (
    SegmindHarness,
    QubridHarness,
    CohereHarness,
    StubHarness,
)
