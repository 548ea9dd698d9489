"""Edge classifiers: graph -> ``edge_scores`` (issue 6)."""
