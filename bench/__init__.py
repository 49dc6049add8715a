"""Benchmarks of the drift engine (`make bench`); never part of the test suite.

`bench.drift` is the entry point: it generates seeded synthetic windows (`bench.data`), runs
every approach in its own fresh subprocess (`bench.workers`) and prints and writes the results
(`bench.report`). See `bench/README.md`.
"""
