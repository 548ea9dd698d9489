"""Reader of the ROOT files that ACTS (Fatras + digitisation) writes: ``measurements.root`` and
``particles.root`` (schemas in DESIGN.md, "Formats").

Events are read one at a time, never a whole file: a first pass reads only the ``event_nr`` branch of
the measurements tree, in chunks of ``chunk_entries`` entries, and records where each event's block of
entries starts and stops; then each event (or a run of consecutive small events, up to
``chunk_entries`` entries) is read with ``entry_start``/``entry_stop``. Blocks may appear in any order in
the file (multi-threaded ACTS writes them as events finish) but each event's measurements must be
contiguous. Events are yielded in ``event_nr`` order.

A hit's ``hit_id`` is the index of the measurement within its event, in file order. Its
``particle_id`` comes from the v44+ barcode branches ``particles_vertex_primary, ..._sub_particle``
(jagged; empty = noise; several particles -> the first) packed by
:func:`tracking.io.barcode.encode_barcode`,
or from an older single ``particle_id`` branch (jagged or flat, signed or unsigned 64-bit). ``hits.root``
(simulated hits) is not needed and not read: measurements carry their truth links.

Type rules (the same for every branch): an integer field accepts any integer or floating branch whose
values convert losslessly (e.g. ``event_nr`` written as float64 ``3.0``); a non-integral, non-finite or
out-of-range value is a :class:`DataError` naming file, tree, branch and event. Float fields accept
integer or float branches and are stored as float32 (a finite value beyond float32 is an error). Hit
coordinates must be finite and within +-1e6 mm; event numbers must be 0 .. 2**32 - 1 (the uint32
``event_nr``). An event present in ``particles.root`` but without measurements yields an Event with zero
hits. Every failure of uproot on a truncated or corrupt file is re-raised as a :class:`DataError` naming
the file.

One bad event does not end the iteration: ``pending_events(source)`` yields (event number, read) pairs
whose ``read()`` alone fails for a bad event, and the iterator of ``reader(source)`` raises that event's
DataError and reads the next event on the next ``next()`` (:mod:`tracking.io.pending`). Failures that
concern every event (missing file, tree or branch, an unreadable event number branch) are raised before
the first event.

The package, one concern a module: :mod:`.branches` (branch layout, name mapping, uproot errors),
:mod:`.event_index` (where each event lives), :mod:`.measurements` and :mod:`.particles` (reading one
tree each), :mod:`.reader` (the ``acts_root`` reader plugin).
"""

from __future__ import annotations

from .branches import MEASUREMENT_BRANCHES, PARTICLE_BRANCHES
from .reader import ActsRootReader, read_acts_root

__all__ = ["MEASUREMENT_BRANCHES", "PARTICLE_BRANCHES", "ActsRootReader", "read_acts_root"]
