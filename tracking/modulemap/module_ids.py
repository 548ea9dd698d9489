"""Which module of a map each hit belongs to: the file's ``module_id``, or the built-in detector's nominal
module at the hit's position (for files numbered otherwise, such as real TrackML events).

``auto`` uses the file's ids when they follow the built-in detector's numbering and the positional ones
when they do not, deciding on an evenly spaced sample of the event's hits. Positional ids are the built-in
detector's: for a map learned on another numbering (:attr:`ModuleMap.numbering`) ``auto`` always takes
the file's ids and ``geometric`` is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from ..arrays import as_numpy
from ..detector import BUILTIN_NUMBERING
from ..event import Event

if TYPE_CHECKING:
    from ..simulation import Detector

ModuleIdMode = Literal["auto", "file", "geometric"]

# ``auto`` switches to positional ids when fewer of an event's hits than this carry the id of the
# simulation's nominal module at their position. Measured: 74 % of a simulated mu = 200 event's hits do
# (the rest sit where two modules overlap), 46 % of the real TrackML events' hits.
NOMINAL_AGREEMENT_MIN = 0.6
SAMPLE_HITS = 4096  # hits that ``auto`` compares: cheap on large events


class ModuleIdResolver:
    """Gives each hit the module id a map learned on the built-in detector expects (see module doc)."""

    def __init__(self, mode: ModuleIdMode = "auto", numbering: str = BUILTIN_NUMBERING) -> None:
        if mode == "geometric" and numbering != BUILTIN_NUMBERING:
            raise ValueError(
                f"module_ids 'geometric' gives the built-in detector's module ids, but the map was learned on "
                f"numbering {numbering!r}: use 'file' or 'auto'"
            )
        # another detector's map: the built-in positions mean nothing to it, so auto takes the file's ids
        self.mode: ModuleIdMode = "file" if mode == "auto" and numbering != BUILTIN_NUMBERING else mode
        self._detector: Detector | None = None  # built on first use of positional ids

    def nominal_ids(self, event: Event, step: int = 1) -> np.ndarray:
        """The built-in detector's module at every ``step``-th hit (sliced before leaving the device)."""
        if self._detector is None:
            from ..simulation import trackml_detector

            self._detector = trackml_detector()
        volume, layer, x, y, z = (as_numpy(getattr(event, k)[::step]) for k in ("volume_id", "layer_id", "x", "y", "z"))
        return self._detector.nominal_module_ids(volume, layer, x, y, z)

    def use_positions(self, event: Event) -> bool:
        """Whether ``event``'s hits get positional module ids under this mode."""
        if self.mode == "file" or event.volume_id is None or event.layer_id is None or not event.num_hits:
            return False
        if self.mode == "geometric" or event.module_id is None:
            return True
        step = max(1, event.num_hits // SAMPLE_HITS)
        agreement = np.mean(self.nominal_ids(event, step) == as_numpy(event.module_id[::step]))
        return float(agreement) < NOMINAL_AGREEMENT_MIN

    def resolve(self, event: Event) -> tuple[Event, bool]:
        """``(event with the module ids to look up in the map, whether they are positional)``."""
        if not self.use_positions(event):
            return event, False
        return event.replace(module_id=self.nominal_ids(event).astype(np.int32)), True
