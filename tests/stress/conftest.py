"""The stress tests: hundreds of processes each, killed and retried; minutes on a loaded machine."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
STRESS_TIMEOUT = 1200
"""Seconds before a stress test that hangs fails with its name (others: `timeout` in pyproject.toml)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.timeout(STRESS_TIMEOUT))
