"""Benchmarks: they print figures; `make bench` runs the stage table and the load run."""
