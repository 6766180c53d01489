"""The runtime's version: that of the installed reactorc distribution it ships in (one number,
set in reactorc/__init__.py, read by pyproject.toml)."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    try:
        return metadata.version("reactorc")
    except metadata.PackageNotFoundError:
        return "0+unknown"
