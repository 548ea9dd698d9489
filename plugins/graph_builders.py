"""Graph builders: hits -> ``edge_index`` (issue 4)."""
