"""Coordinate AI coding-agent sessions over a long mission, as an Invoke collection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mosaic_invoke.errors import CoordError, SessionActive

if TYPE_CHECKING:
    from mosaic_invoke.collection import coord

__all__ = ["CoordError", "SessionActive", "__version__", "coord"]


def __getattr__(name: str) -> Any:
    # Imported when asked for: `mosaic-coord` pauses the garbage collector before it imports
    # Invoke (see cli.main), and reading package metadata costs a few milliseconds.
    if name == "coord":
        from mosaic_invoke.collection import coord  # Invoke itself, imported when asked for

        return coord
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version  # a few ms, for --version only

        try:
            return version("mosaic-invoke")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
