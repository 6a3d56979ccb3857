"""Synth, scale and transform benchmarks (make bench; not part of make test)."""
