"""Efficiency plots (PNG, matplotlib Agg), written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_output
from ..extras import require
from .tracks import BinnedEfficiency


def clopper_pearson(matched: np.ndarray, total: np.ndarray, level: float = 0.682689) -> tuple[np.ndarray, np.ndarray]:
    """Central Clopper-Pearson interval (ROOT ``TEfficiency``'s default) per bin; NaN for empty bins."""
    from scipy.stats import beta

    matched = np.asarray(matched, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    alpha = (1.0 - level) / 2.0
    empty = total == 0
    k, n = matched, np.where(empty, 1.0, total)
    lo = np.where(k > 0, beta.ppf(alpha, np.maximum(k, 1e-12), n - k + 1), 0.0)
    hi = np.where(k < n, beta.ppf(1.0 - alpha, k + 1, np.maximum(n - k, 1e-12)), 1.0)
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def plot_efficiency(
    binned: BinnedEfficiency,
    path: str | os.PathLike,
    *,
    xlabel: str,
    title: str = "",
    log_x: bool = False,
) -> Path:
    """Draw efficiency per bin with Clopper-Pearson 68% error bars into the PNG ``path``."""
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    edges = binned.edges
    centres = np.sqrt(edges[:-1] * edges[1:]) if log_x and edges[0] > 0 else 0.5 * (edges[:-1] + edges[1:])
    eff = binned.efficiency
    lo, hi = clopper_pearson(binned.matched, binned.total)
    filled = binned.total > 0

    fig = Figure(figsize=(6.0, 4.2), dpi=110)
    ax = fig.add_subplot()
    ax.errorbar(
        centres[filled],
        eff[filled],
        xerr=[(centres - edges[:-1])[filled], (edges[1:] - centres)[filled]],
        yerr=[(eff - lo)[filled], (hi - eff)[filled]],
        fmt="o",
        markersize=4,
        capsize=2,
    )
    if log_x:
        ax.set_xscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("track efficiency")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    target = Path(path)
    with atomic_output(target) as tmp:
        fig.savefig(tmp, format="png")
    return target


def plot_track_metrics(result: dict, directory: str | os.PathLike) -> list[Path]:
    """Efficiency vs pT, vs eta and (when the result has it) vs the production vertex's distance from the beam
    line: PNGs from a :meth:`TrackMetrics.result` into ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    cfg = result.get("config", {})
    pt_min = cfg.get("pt_min")
    written = []
    vs_pt = result["efficiency_vs_pt"]
    written.append(
        plot_efficiency(
            BinnedEfficiency(np.asarray(vs_pt["edges"]), np.asarray(vs_pt["matched"]), np.asarray(vs_pt["total"])),
            out / "efficiency_vs_pt.png",
            xlabel="particle $p_T$ [GeV]",
            title="efficiency vs $p_T$ (all cuts but $p_T$)",
            log_x=True,
        )
    )
    vs_eta = result["efficiency_vs_eta"]
    written.append(
        plot_efficiency(
            BinnedEfficiency(np.asarray(vs_eta["edges"]), np.asarray(vs_eta["matched"]), np.asarray(vs_eta["total"])),
            out / "efficiency_vs_eta.png",
            xlabel="particle $\\eta$",
            title=f"efficiency vs $\\eta$ ($p_T$ > {pt_min} GeV)" if pt_min else "efficiency vs $\\eta$",
        )
    )
    vs_r = result.get("efficiency_vs_vertex_r")
    if vs_r and sum(vs_r["total"]):
        edges = np.asarray(vs_r["edges"], dtype=np.float64)
        shown = edges.copy()
        shown[0] = max(edges[0], 0.1)  # log axis: the prompt bin starts at 0.1 mm
        written.append(
            plot_efficiency(
                BinnedEfficiency(shown, np.asarray(vs_r["matched"]), np.asarray(vs_r["total"])),
                out / "efficiency_vs_vertex_r.png",
                xlabel="production vertex distance from the beam line [mm]",
                title="efficiency vs production radius" + (f" ($p_T$ > {pt_min} GeV)" if pt_min else ""),
                log_x=True,
            )
        )
    return written
