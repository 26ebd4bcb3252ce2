"""Workflow tests run with fast retries and a quick worker (Tray's 40 s API-error retry
becomes 40 ms), and a webhook body limit of 2 MB."""

from __future__ import annotations

import pytest


@pytest.fixture
async def api(settings, make_api):
    fast = settings.model_copy(
        update={
            "workflow_retry_scale": 0.001,
            "worker_poll_seconds": 0.05,
            "workflow_max_body_bytes": 2 * 1024 * 1024,  # a small limit to test it
        }
    )
    async with make_api(fast) as running:
        yield running
