"""``python -m tracking.training CONFIG [options]``: the training entry point for launchers.

``torchrun --nproc-per-node N -m tracking.training CONFIG`` runs one DDP rank per process (single- or
multi-node; torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT); ``trackpipe train
--nproc N`` starts this module N times the same way. Options are those of ``trackpipe train``.
"""

from __future__ import annotations

from ..cli.train import train_command

if __name__ == "__main__":
    train_command(prog_name="python -m tracking.training")
