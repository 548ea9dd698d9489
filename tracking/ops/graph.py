"""Graph-building kernels: doublet builder, fixed-radius neighbours (issue 4)."""
__all__: list[str] = []
