"""The branch layout of ACTS' ROOT trees and the mapping from DESIGN names to the names in a file.

Also the one place where uproot's exceptions on a truncated or corrupt file become :class:`DataError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import uproot

from ...errors import DataError
from ..barcode import FIELD_NAMES as BARCODE_FIELDS

# DESIGN names of the branches the reader knows; the config maps them to the names in a file.
MEASUREMENT_BRANCHES: tuple[str, ...] = (
    "event_nr",
    "volume_id",
    "layer_id",
    "surface_id",
    "rec_gx",
    "rec_gy",
    "rec_gz",
    *(f"particles_{name}" for name in BARCODE_FIELDS),
    "particle_id",
)
PARTICLE_BRANCHES: tuple[str, ...] = (
    "event_id",
    *BARCODE_FIELDS,
    "particle_id",
    "pt",
    "eta",
    "phi",
    "px",
    "py",
    "pz",
    "vx",
    "vy",
    "vz",
    "q",
    "number_of_hits",
)

# How a tree links to particles: the v44+ barcode branches or an older single ``particle_id`` branch.
TruthLayout = Literal["barcode", "particle_id"]


@contextmanager
def uproot_errors(
    path: Path, tree: str | None = None, branch: str | None = None, event: int | None = None
) -> Iterator[None]:
    """Turn whatever uproot raises on a truncated or corrupt file into a DataError with context."""
    try:
        yield
    except DataError:
        raise
    except Exception as err:  # uproot raises many types on corrupt input
        raise DataError(
            f"cannot read ROOT data, the file may be truncated or corrupt: {type(err).__name__}: {err}",
            file=str(path),
            tree=tree,
            branch=branch,
            event=event,
        ) from err


def open_tree(files: list, path: Path, tree_name: str) -> Any:
    """The TTree ``tree_name`` of ``path``; the opened file is appended to ``files`` for the caller to close."""
    with uproot_errors(path):
        rootfile = uproot.open(path)
    files.append(rootfile)
    with uproot_errors(path, tree_name):
        names = {key.split(";")[0] for key in rootfile.keys(recursive=False)}
        if tree_name not in names:
            raise DataError(
                f"missing tree; the file holds {sorted(names) or 'nothing'}", file=str(path), tree=tree_name
            )
        tree = rootfile[tree_name]
        if not isinstance(tree, uproot.TTree):
            raise DataError(f"{tree_name!r} is a {type(tree).__name__}, not a TTree", file=str(path), tree=tree_name)
        tree.keys()  # forces reading the branch list, which a corrupt file can fail on
    return tree


@dataclass(frozen=True)
class TreeBranches:
    """One tree of one file and where each DESIGN-named branch lives in it (``None`` = absent)."""

    path: Path
    tree: Any  # uproot.TTree
    mapping: dict[str, str]
    found: dict[str, str | None]

    @classmethod
    def of(cls, tree: Any, path: Path, mapping: dict[str, str], names: Sequence[str]) -> TreeBranches:
        present = set(tree.keys())
        found: dict[str, str | None] = {}
        for name in names:
            actual = mapping.get(name, name)
            found[name] = actual if actual in present else None
        return cls(path, tree, mapping, found)

    def has(self, name: str) -> bool:
        return self.found[name] is not None

    def file_name(self, name: str) -> str:
        """The branch name in the file (mapped), whether or not the branch exists."""
        return self.mapping.get(name, name)

    def error(self, message: str, name: str | None = None, event: int | None = None) -> DataError:
        """A DataError naming this file and tree, and the file's branch for the DESIGN name ``name``."""
        return DataError(
            message,
            file=str(self.path),
            tree=self.tree.name,
            branch=None if name is None else self.file_name(name),
            event=event,
        )

    def require(self, names: Sequence[str]) -> None:
        for name in names:
            if not self.has(name):
                actual = self.file_name(name)
                hint = f" (mapped from {name!r})" if actual != name else ""
                raise self.error(f"missing branch{hint}; the tree has {', '.join(sorted(self.tree.keys()))}", name)

    def read(self, name: str, *, event: int | None = None, library: str = "ak", **entries: Any) -> Any:
        """The branch as an awkward (or numpy) array; ``entries``: ``entry_start``/``entry_stop``."""
        branch = self.found[name]
        with uproot_errors(self.path, self.tree.name, branch, event):
            return self.tree[branch].array(library=library, **entries)

    def truth_layout(self, prefix: str, *, required: bool) -> TruthLayout | None:
        """'barcode', 'particle_id' or None, after checking that a barcode is complete."""
        barcode = [f"{prefix}{name}" for name in BARCODE_FIELDS]
        have = [name for name in barcode if self.has(name)]
        if have and len(have) < len(barcode):
            missing = [name for name in barcode if not self.has(name)]
            raise self.error(
                f"incomplete barcode: has {[self.file_name(n) for n in have]} but lacks "
                f"{[self.file_name(n) for n in missing]}",
                missing[0],
            )
        if have:
            return "barcode"
        if self.has("particle_id"):
            return "particle_id"
        if required:
            raise self.error(
                "truth required (truth: true) but neither barcode branches "
                f"{[self.file_name(n) for n in barcode]} nor 'particle_id' exist",
                "particle_id",
            )
        return None
