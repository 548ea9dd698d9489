"""Track quality (tracking.quality): the track features against hand-made tracks, the model learns and
round-trips, and the track builders' short-track rule judges tracks by it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracking import ops, registry
from tracking.errors import ConfigError, DataError
from tracking.event import Event
from tracking.quality import FEATURE_NAMES, TrackQualityModel, fit_track_quality, track_features

COL = {name: k for k, name in enumerate(FEATURE_NAMES)}


def _hits():
    """Track 0: 6 hits on a circle of radius 2000 mm through the origin, z = 0.5 r; track 1: 4 scattered
    hits; 3 hits on no track (-1)."""
    rng = np.random.default_rng(0)
    phi = np.linspace(0.05, 0.5, 6)
    x0, y0 = 2000 * np.cos(phi) - 2000, 2000 * np.sin(phi)  # circle centred at (-2000, 0), through (0, 0)
    x1, y1 = rng.uniform(-900, 900, 4), rng.uniform(-900, 900, 4)
    x = np.concatenate([-x0, x1, [10.0, 20.0, 30.0]])
    y = np.concatenate([y0, y1, [5.0, 5.0, 5.0]])
    r = np.hypot(x, y)
    z = np.concatenate([0.5 * r[:6], rng.uniform(-1000, 1000, 4), [0.0, 0.0, 0.0]])
    labels = np.array([0] * 6 + [1] * 4 + [-1] * 3)
    return x, y, z, labels


def test_features_of_hand_made_tracks():
    x, y, z, labels = _hits()
    # track 0's chain (5 edges, scores 0.9 / 0.5 at the end), one confident edge leaving it; a weak edge in track 1
    edges = np.array([[0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 10, 7]])
    scores = np.array([0.9, 0.9, 0.9, 0.9, 0.5, 0.8, 0.2])
    f = track_features(x, y, z, edges, scores, labels)
    assert f.shape == (2, len(FEATURE_NAMES))
    assert f[0, COL["log_hits"]] == pytest.approx(np.log(6)) and f[1, COL["log_hits"]] == pytest.approx(np.log(4))
    assert f[0, COL["edge_score_mean"]] == pytest.approx(0.82) and f[0, COL["edge_score_min"]] == pytest.approx(0.5)
    assert f[0, COL["edges_per_hit"]] == pytest.approx(5 / 6) and f[1, COL["edges_per_hit"]] == 0.25
    # the parabola in the track's frame follows the arc to 0.1 mm, its curvature to 2 %, the origin to 1 mm
    assert f[0, COL["log1p_circle_rms_mm"]] < np.log1p(0.1) and f[1, COL["log1p_circle_rms_mm"]] > np.log1p(10)
    assert f[0, COL["log1p_inverse_radius"]] == pytest.approx(np.log1p(0.5), rel=0.02)  # R = 2000 mm
    assert f[0, COL["log1p_d0_mm"]] < np.log1p(1.0) and f[0, COL["log1p_line_rz_rms_mm"]] < 1e-6
    assert f[0, COL["abs_slope_rz"]] == pytest.approx(0.05) and f[0, COL["log1p_abs_z0_mm"]] < 1e-6
    assert f[0, COL["log1p_confident_edges_leaving"]] == pytest.approx(np.log1p(1))
    assert f[1, COL["log1p_line_rz_rms_mm"]] > f[0, COL["log1p_line_rz_rms_mm"]]
    assert np.isfinite(f).all()
    assert track_features(x, y, z, edges, scores, np.full(len(x), -1)).shape == (0, len(FEATURE_NAMES))
    # a straight track (no field) 5 mm from the beam line: no residual, no curvature, d0 = 5 mm
    r = np.linspace(30.0, 1000.0, 8)
    sx, sy = r * np.cos(0.3) - 5 * np.sin(0.3), r * np.sin(0.3) + 5 * np.cos(0.3)
    line = track_features(sx, sy, 2 * r, np.zeros((2, 0), dtype=np.int64), np.zeros(0), np.zeros(8, dtype=np.int64))[0]
    assert line[COL["log1p_circle_rms_mm"]] < 1e-9 and line[COL["log1p_inverse_radius"]] < 1e-9
    assert line[COL["log1p_d0_mm"]] == pytest.approx(np.log1p(5.0))


def test_model_learns_round_trips_and_names_bad_files(tmp_path):
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2000, len(FEATURE_NAMES)))
    real = features[:, COL["log1p_circle_rms_mm"]] < 0.3  # real tracks fit a circle
    model = fit_track_quality(features, real, seed=1)
    prob = model.predict(features)
    assert ((prob > 0.5) == real).mean() > 0.95
    loaded = TrackQualityModel.load(model.save(tmp_path / "q.npz"))
    np.testing.assert_array_equal(loaded.predict(features), prob)
    with pytest.raises(DataError, match="both real and fake"):
        fit_track_quality(features, np.ones(len(features), dtype=bool))
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(DataError, match=r"bad\.npz"):
        TrackQualityModel.load(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="not found"):
        TrackQualityModel.load(tmp_path / "missing.npz")


def test_short_track_rule_with_track_scores():
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, -1])
    edges = np.array([[0, 1], [1, 2]])
    scores = np.array([0.99, 0.99])  # track 0's edges are confident, track 2 has none: the mean-score rule
    mean_rule = ops.drop_weak_short_tracks(labels, edges, scores, 5, 0.5)
    np.testing.assert_array_equal(mean_rule, [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1])
    kept = ops.drop_weak_short_tracks(labels, edges, scores, 5, 0.5, track_scores=np.array([0.1, 0.2, 0.9]))
    # track 0 (3 hits, quality 0.1) goes; track 1 (7 hits) is not judged; track 2 (0.9) stays
    np.testing.assert_array_equal(kept, [-1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, -1])
    with pytest.raises(ValueError, match="one per track"):
        ops.drop_weak_short_tracks(labels, edges, scores, 5, 0.5, track_scores=np.array([0.1]))


def test_track_builders_use_the_quality_model(tmp_path):
    x, y, z, labels = _hits()
    # a graph whose confident edges make exactly the two tracks of _hits()
    edges = np.array([[0, 1, 2, 3, 4, 6, 7, 8], [1, 2, 3, 4, 5, 7, 8, 9]])
    event = Event(
        event_id=1,
        hit_id=np.arange(len(x), dtype=np.int64),
        x=x.astype(np.float32),
        y=y.astype(np.float32),
        z=z.astype(np.float32),
        edge_index=edges,
        edge_scores=np.full(edges.shape[1], 0.9, dtype=np.float32),
    ).to("cpu")
    features = track_features(x, y, z, edges, np.full(8, 0.9), labels)
    # a model that calls circle-like tracks real: trained on jittered copies of the two tracks
    rng = np.random.default_rng(2)
    train = np.concatenate(
        [
            features[[0]] + rng.normal(0, 0.01, (200, len(FEATURE_NAMES))),
            np.repeat(features[[1]], 200, axis=0),
        ]
    )
    model = fit_track_quality(train, np.repeat([True, False], 200))
    path = model.save(tmp_path / "q.npz")
    for name in ("walkthrough", "connected_components"):
        plain = registry.create("track_builder", name, {"score_cut": 0.5, "min_hits": 3})(event).track_labels
        assert int(torch.as_tensor(plain).max()) == 1  # both tracks
        judged = registry.create(
            "track_builder",
            name,
            {"score_cut": 0.5, "min_hits": 3, "short_hits": 100, "short_score_cut": 0.5, "quality": path},
        )(event).track_labels
        judged = torch.as_tensor(judged).numpy()
        assert (judged[:6] == 0).all() and (judged[6:] == -1).all(), name  # the scattered track is dropped
    with pytest.raises(ConfigError, match="quality"):
        registry.create("track_builder", "walkthrough", {"quality": tmp_path / "missing.npz"})
