"""Hyper-parameter optimisation: ``trackpipe tune TUNE.yaml`` (Optuna, the ``tune`` extra).

- :mod:`.config`: the TUNE.yaml schema (base training config, search space by dotted key, objective,
  sampler, pruner, budget);
- :mod:`.space`: sampling a trial's values and writing them into the training config;
- :mod:`.study`: storage (journal file or database), the trial objective (a normal training run in
  its own directory, pruned from its per-epoch validation figures), workers, recovery of killed trials;
- :mod:`.report`: table, summary, best config, plots.

docs/tuning.md walks through a study.
"""

from __future__ import annotations

from .config import METRICS, TuneConfig, load_tune_config
from .report import format_table, write_report
from .study import open_storage, run_study

__all__ = ["METRICS", "TuneConfig", "format_table", "load_tune_config", "open_storage", "run_study", "write_report"]
