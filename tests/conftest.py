"""Test-session order: the tests that serve models with Reactor's own runtimes run last, so the
environments `.ci/run` builds for them in the background (scripts/platform-envs.sh) have the
rest of the run to finish (tests/platform waits for a build still running)."""

from __future__ import annotations

import pytest

LAST = "tests/platform/test_platform_runtimes.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.nodeid.startswith(LAST)]
    if last:
        chosen = set(map(id, last))
        items[:] = [item for item in items if id(item) not in chosen] + last
