"""Timings of the engine against hand-fused NumPy and PyTorch; not part of the library."""
