"""Imports the compiled module once, with advice when the build is missing or broken."""

from __future__ import annotations

try:
    from . import _core as core
except ImportError as err:  # pragma: no cover - only on a broken install
    err.add_note(
        "tracking._core (the compiled kernels) could not be imported. Reinstall trackpipe so that "
        "its native module is built: `pip install --force-reinstall --no-deps .` from the source "
        "tree (needs a C++17 compiler, CMake >= 3.24 and pybind11). For a development checkout use "
        "`pip install --no-build-isolation -e .` or dev/rebuild.sh."
    )
    raise

__all__ = ["core"]
