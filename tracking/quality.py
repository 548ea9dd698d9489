"""Track quality: a small learned classifier that tells a real track from a fake one by its shape.

A global ``min_hits`` loses every particle that leaves few hits (secondaries produced far from the beam
line, particles leaving through the endcaps). The fakes it removes are mostly *fragments*: pieces of a
particle whose other hits went to another track, and chance alignments. :class:`TrackQualityModel` scores
each candidate track from :data:`FEATURE_NAMES` (its hits, its edges' scores, how well a helix -- a circle in
x-y and a line in r-z -- fits it, where it starts and ends relative to the event's extent, and how many
confident edges leave it); the track builders' short-track rule (``short_hits`` / ``short_score_cut``) then
judges short tracks by this probability instead of their edges' mean score (``quality:`` in the track
builder's config). ``trackpipe fit`` trains it on scored training events the models did not learn from and
chooses ``short_hits`` and the cut on the validation events.

The model is a two-hidden-layer MLP on standardised features, stored as a ``.npz`` (weights, feature
names, means and scales) and evaluated in numpy: a few milliseconds per event.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from .arrays import as_numpy
from .atomic import atomic_output
from .errors import DataError
from .ops.components import local_parabolas, parabola_distance

__all__ = ["FEATURE_NAMES", "TrackQualityModel", "fit_track_quality", "track_features"]

FEATURE_NAMES: tuple[str, ...] = (
    "log_hits",
    "edge_score_mean",
    "edge_score_min",
    "edges_per_hit",
    "log1p_circle_rms_mm",
    "log1p_line_rz_rms_mm",
    "log1p_d0_mm",
    "log1p_inverse_radius",
    "r_min_fraction",
    "r_max_fraction",
    "abs_z_min_fraction",
    "abs_z_max_fraction",
    "abs_slope_rz",
    "log1p_abs_z0_mm",
    "log1p_confident_edges_leaving",
    "reaches_outside",
)
FORMAT_VERSION = 1


def track_features(x: Any, y: Any, z: Any, edge_index: Any, scores: Any, labels: Any) -> np.ndarray:
    """float64 ``[T, len(FEATURE_NAMES)]``: the features of tracks ``0..T-1`` of ``labels`` (-1: no track).

    Per track: log of its hits; mean and minimum score of the graph edges joining two of its hits, and their
    number per hit; RMS residual of a parabola fit in the track's own x-y frame and of a line fit z(r); the
    distance of that curve from the beam line (d0) and its curvature (1 / R in 1/m); its smallest and
    largest r and |z| as fractions of the event's largest; |dz/dr| and |z0| of the line; the number of edges
    scoring > 0.5 that join it to another hit; whether it reaches the outer 10 % of the event in r or |z|.
    """
    lab = as_numpy(labels).astype(np.int64, copy=False)
    n_tracks = int(lab.max(initial=-1)) + 1
    if n_tracks == 0:
        return np.zeros((0, len(FEATURE_NAMES)))
    hx, hy, hz = (as_numpy(v).astype(np.float64) for v in (x, y, z))
    on = lab >= 0
    t = lab[on]
    px, py, pz = hx[on], hy[on], hz[on]
    pr = np.hypot(px, py)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(t, weights=values, minlength=n_tracks)

    n = np.bincount(t, minlength=n_tracks).astype(np.float64)
    # x-y shape: a parabola q = a + b s + c s^2 in each track's own frame (s along its principal direction,
    # q across, centred on its mean): linear least squares, exact for straight tracks (c = 0) and, for
    # the arcs a tracker sees, a circle of curvature 2c to first order
    fit = local_parabolas(t, px, py, n_tracks)
    along, across = fit["s"], fit["q"]
    q0, q1, q2 = fit["coef"].T
    residual = across - (q0[t] + q1[t] * along + q2[t] * along**2)
    circle_rms = np.sqrt(total(residual * residual) / n)
    inverse_radius = 2 * np.abs(q2) / (1 + q1 * q1) ** 1.5
    # the beam line (the origin): its distance from the curve (d0)
    origin = np.zeros(n_tracks)
    d0 = parabola_distance(fit, np.arange(n_tracks), origin, origin)
    # line z = z0 + slope * r
    sr, sz, srr, srz = total(pr), total(pz), total(pr * pr), total(pr * pz)
    det = n * srr - sr * sr
    ok = np.abs(det) > 1e-9 * np.maximum(n * srr, 1.0)
    slope = np.where(ok, (n * srz - sr * sz) / np.where(ok, det, 1.0), 0.0)
    z0 = (sz - slope * sr) / n
    line_res = pz - (z0[t] + slope[t] * pr)
    line_rms = np.sqrt(total(line_res * line_res) / n)
    # extent, relative to the event's
    r_event = max(float(np.hypot(hx, hy).max(initial=0.0)), 1e-9)
    z_event = max(float(np.abs(hz).max(initial=0.0)), 1e-9)
    r_min = np.full(n_tracks, np.inf)
    np.minimum.at(r_min, t, pr)
    r_max = np.zeros(n_tracks)
    np.maximum.at(r_max, t, pr)
    az = np.abs(pz)
    z_min = np.full(n_tracks, np.inf)
    np.minimum.at(z_min, t, az)
    z_max = np.zeros(n_tracks)
    np.maximum.at(z_max, t, az)
    # the graph around it
    ei = as_numpy(edge_index).astype(np.int64, copy=False)
    sc = as_numpy(scores).astype(np.float64, copy=False)
    src, dst = lab[ei[0]], lab[ei[1]]
    inside = (src >= 0) & (src == dst)
    n_inside = np.bincount(src[inside], minlength=n_tracks).astype(np.float64)
    mean = np.bincount(src[inside], weights=sc[inside], minlength=n_tracks) / np.maximum(n_inside, 1.0)
    low = np.ones(n_tracks)
    np.minimum.at(low, src[inside], sc[inside])
    confident = (sc > 0.5) & ~inside
    leaving = np.zeros(n_tracks)
    for side in (src, dst):
        hit = confident & (side >= 0)
        leaving += np.bincount(side[hit], minlength=n_tracks)
    reaches = (r_max > 0.9 * r_event) | (z_max > 0.9 * z_event)
    columns = [
        np.log(n),
        mean,
        low,
        n_inside / n,
        np.log1p(circle_rms),
        np.log1p(line_rms),
        np.log1p(d0),
        np.log1p(1000.0 * inverse_radius),
        r_min / r_event,
        r_max / r_event,
        z_min / z_event,
        z_max / z_event,
        np.minimum(np.abs(slope), 1e3) / 10.0,
        np.log1p(np.abs(z0)),
        np.log1p(leaving),
        reaches.astype(np.float64),
    ]
    return np.nan_to_num(np.stack(columns, axis=1), nan=0.0, posinf=1e6, neginf=-1e6)


@dataclass
class TrackQualityModel:
    """A trained track-quality MLP (see the module docstring): ``predict(features) -> probability``."""

    weights: list[np.ndarray]  # W1, b1, W2, b2, W3, b3 (float64)
    mean: np.ndarray
    scale: np.ndarray
    feature_names: tuple[str, ...] = FEATURE_NAMES

    def predict(self, features: np.ndarray) -> np.ndarray:
        """float64 ``[T]`` probabilities that each track is real (matched)."""
        h = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        w1, b1, w2, b2, w3, b3 = self.weights
        h = np.maximum(h @ w1 + b1, 0.0)
        h = np.maximum(h @ w2 + b2, 0.0)
        logit = (h @ w3 + b3)[:, 0]
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -60.0, 60.0)))

    def score_tracks(self, event: Any, labels: Any, scores: Any, edge_index: Any) -> np.ndarray:
        """The probability of each track of ``labels`` in ``event`` (graph ``edge_index``, ``scores``)."""
        features = track_features(event.x, event.y, event.z, edge_index, scores, labels)
        return self.predict(features) if len(features) else np.zeros(0)

    def save(self, path: str | os.PathLike) -> Path:
        arrays: dict[str, np.ndarray] = {f"w{k}": w for k, w in enumerate(self.weights)}
        arrays.update(
            mean=self.mean,
            scale=self.scale,
            feature_names=np.asarray(self.feature_names),
            version=np.asarray(FORMAT_VERSION),
        )
        with atomic_output(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
            cast(Any, np.savez)(handle, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrackQualityModel:
        """Read a model written by :meth:`save`; a DataError names the file when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["version"])
                names = tuple(str(s) for s in data["feature_names"])
                weights = [data[f"w{k}"].astype(np.float64) for k in range(6)]
                mean, scale = data["mean"].astype(np.float64), data["scale"].astype(np.float64)
        except FileNotFoundError:
            raise DataError("track-quality model not found", file=str(path)) from None
        except (KeyError, ValueError, OSError) as err:
            raise DataError(f"not a track-quality model ({err})", file=str(path)) from None
        if version != FORMAT_VERSION or names != FEATURE_NAMES:
            raise DataError(
                f"track-quality model of another trackpipe (format {version}, features {list(names)}); "
                "fit it again with this version",
                file=str(path),
            )
        return cls(weights, mean, scale, names)


def fit_track_quality(
    features: np.ndarray,
    real: np.ndarray,
    *,
    hidden: int = 16,
    steps: int = 400,
    lr: float = 3e-3,
    weight_decay: float = 1e-2,
    seed: int = 0,
) -> TrackQualityModel:
    """Train a :class:`TrackQualityModel` on ``features`` ``[T, F]`` and ``real`` (bool ``[T]``: the track
    is matched to a particle): full-batch AdamW on the binary cross-entropy, small and weight-decayed so
    that it generalises from a few events' tracks (measured on simulated mu = 200 events: 400 steps at
    weight decay 1e-2 generalised, 1500 steps without it fitted the training tracks exactly and did not)."""
    import torch

    features = np.asarray(features, dtype=np.float64)
    real = np.asarray(real, dtype=bool)
    if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES) or len(real) != len(features):
        raise ValueError(f"features must be [T, {len(FEATURE_NAMES)}] with one label per row")
    if len(real) == 0 or real.all() or not real.any():
        raise DataError("a track-quality model needs both real and fake tracks to learn from")
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    generator = torch.Generator().manual_seed(seed)
    layers = [
        torch.nn.Linear(len(FEATURE_NAMES), hidden),
        torch.nn.Linear(hidden, hidden),
        torch.nn.Linear(hidden, 1),
    ]
    with torch.no_grad():
        for layer in layers:
            bound = 1.0 / np.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    net = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
    inputs = torch.tensor((features - mean) / scale, dtype=torch.float32)
    targets = torch.tensor(real, dtype=torch.float32)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(inputs)[:, 0], targets)
        loss.backward()
        optimizer.step()
    weights = []
    for layer in layers:
        weights += [layer.weight.detach().double().numpy().T.copy(), layer.bias.detach().double().numpy().copy()]
    weights[-1] = weights[-1].reshape(1)
    return TrackQualityModel(weights, mean, scale)
