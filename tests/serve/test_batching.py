"""Batched runs through the edge classifiers equal event-by-event runs exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracking.event import Event
from tracking.pipeline import Pipeline
from tracking.runner import DEFAULT_PIPELINE
from tracking.serve.batching import BatchRunner, event_from_columns, merge_graphs, split_graphs


def small_event(event_id, n, edges):
    rng = np.random.default_rng(event_id)
    return Event(
        event_id=event_id,
        hit_id=np.arange(n, dtype=np.int64),
        x=rng.normal(size=n).astype(np.float32),
        y=rng.normal(size=n).astype(np.float32),
        z=rng.normal(size=n).astype(np.float32),
        edge_index=np.array(edges, dtype=np.int64).T.reshape(2, -1),
        edge_scores=np.linspace(0, 1, len(edges), dtype=np.float32),
    ).to("cpu")


def test_merge_then_split_gives_back_each_graph():
    events = [small_event(1, 4, [(0, 1), (1, 2), (2, 3)]), small_event(2, 3, [(0, 2)]), small_event(3, 2, [])]
    merged, offsets = merge_graphs(events)
    assert offsets == [0, 4, 7] and merged.num_hits == 9
    assert merged.edge_index.tolist() == [[0, 1, 2, 4], [1, 2, 3, 6]]
    # pruning in the merged graph (as a classifier does) must land in the right events
    pruned = merged.select_edges(torch.tensor([True, False, True, True]))
    back = split_graphs(pruned, events, offsets)
    assert back[0].edge_index.tolist() == [[0, 2], [1, 3]]
    assert back[1].edge_index.tolist() == [[0], [2]]
    assert back[2].num_edges == 0
    assert torch.equal(back[0].edge_scores, events[0].edge_scores[[0, 2]])


def test_merge_and_split_carry_meta():
    """What all events' meta agree on reaches the union; what the batched stages add reaches every event
    (the edge classifiers' feature provenance, which the next classifier checks before reusing features)."""
    events = [small_event(k, 3, [(0, 1)]) for k in (1, 2)]
    events = [e.replace(meta={"shared": 1, "own": e.event_id}) for e in events]
    merged, offsets = merge_graphs(events)
    assert merged.meta == {"shared": 1}
    back = split_graphs(merged.replace(meta={**merged.meta, "added": "by a stage"}), events, offsets)
    assert [b.meta for b in back] == [{"shared": 1, "own": k, "added": "by a stage"} for k in (1, 2)]


@pytest.fixture(scope="module")
def served_events():
    from tracking.simulation import simulate_events

    events = list(simulate_events(3, mu=5, seed=1234))
    return [
        event_from_columns(
            e.event_id, {k: getattr(e, k) for k in ("hit_id", "x", "y", "z", "volume_id", "layer_id", "module_id")}
        )
        for e in events
    ]


@pytest.mark.slow
def test_batched_equals_one_by_one_on_the_default_pipeline(served_events):
    pipeline = Pipeline.from_yaml(DEFAULT_PIPELINE, device="cpu")
    alone = BatchRunner(pipeline, batched=False)(served_events)
    together = BatchRunner(pipeline)(served_events)
    assert [r.batch_size for r in together] == [3, 3, 3]
    for a, b, event in zip(alone, together, served_events):
        assert torch.equal(a.event.track_labels, b.event.track_labels), event.event_id
        assert torch.equal(a.event.edge_index, b.event.edge_index)
        assert torch.equal(a.event.track_labels, pipeline(event).track_labels)
        assert set(b.stage_s) == set(pipeline.labels)
    assert BatchRunner(pipeline).segments == [(1, 3)]  # the two edge classifiers, between builders
