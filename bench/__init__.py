"""Benchmarks (`make bench`): figures printed side by side with the reference tools, as ratios."""
