"""Track builders: scored graph -> ``track_labels``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tracking.errors import DataError
from tracking.event import Event
from tracking.registry import register
from tracking.stages import Stage


@register("track_builder", "truth")
class TruthTrackBuilder(Stage):
    """Oracle tracks: one track per true particle (needs truth); noise and short particles get -1."""

    @dataclass
    class Config:
        min_hits: int = 1

    def __call__(self, event: Event) -> Event:
        if event.particle_id is None:
            raise DataError("the truth track builder needs per-hit particle_id", event=event.event_id)
        pid = torch.as_tensor(event.particle_id)
        uniq, inverse, counts = torch.unique(pid, return_inverse=True, return_counts=True)
        keep = (uniq != 0) & (counts >= self.config.min_hits)
        new_id = torch.cumsum(keep.to(torch.int64), 0) - 1
        new_id[~keep] = -1
        return event.replace(track_labels=new_id[inverse])
