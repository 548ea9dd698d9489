"""Track-building kernels: connected components, junction removal, walk-through (issue 5)."""
__all__: list[str] = []
