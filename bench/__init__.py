"""Benchmarks of Nabla against its peers: `make bench` writes docs/benchmarks.md."""
