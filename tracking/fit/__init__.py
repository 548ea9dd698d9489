"""``trackpipe fit``: learn a complete pipeline (map, filter, GNN, track builder and every cut) from a
user's own labelled events; see :mod:`tracking.fit.fitter` for the steps and
:mod:`tracking.fit.config` for the configuration."""

from __future__ import annotations

from .config import FitConfig, load_fit_config
from .fitter import FitResult, fit

__all__ = ["FitConfig", "FitResult", "fit", "load_fit_config"]
