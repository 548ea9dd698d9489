"""A torchrun worker for the restart test: ``crash_once.py CONFIG EPOCHS`` trains like
``python -m tracking.training CONFIG`` but, on torchrun's first attempt, fails once EPOCHS epochs are
checkpointed, as a job killed mid-run would; the restarted attempt must resume from that checkpoint."""

from __future__ import annotations

import os
import sys

from tracking.training import load_config, train


def main() -> None:
    config_path, epochs = sys.argv[1], int(sys.argv[2])
    first_attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) == 0

    def on_epoch_end(done: int) -> None:
        if first_attempt and done == epochs:
            raise RuntimeError(f"crashed after epoch {done} on the first attempt")

    train(load_config(config_path), progress=False, on_epoch_end=on_epoch_end)


if __name__ == "__main__":
    main()
