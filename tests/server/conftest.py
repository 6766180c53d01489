"""Fixtures for the server tests: a model served on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from reactor._runner import Runner
from server_harness import Running, serving
from server_models import Counter


@pytest.fixture
async def counter_server() -> AsyncIterator[Running]:
    """The Counter model served on loopback."""
    async with serving(Runner(Counter())) as running:
        yield running
