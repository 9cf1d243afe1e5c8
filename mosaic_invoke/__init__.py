"""Coordinate AI coding-agent sessions over a long mission, as an Invoke collection."""

from __future__ import annotations

from typing import Any

from ._exceptions import CoordError, SessionActive
from .collection import coord

__all__ = ["CoordError", "SessionActive", "__version__", "coord"]


def __getattr__(name: str) -> Any:
    # Reading package metadata costs a few milliseconds: only when asked.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("mosaic-invoke")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(name)
