"""Benchmark suite: stockseries against idiomatic pandas, DuckDB SQL, hand-written Polars and
per-event streaming peers, with a NumPy memory-bandwidth floor.

Run ``python -m benchmarks --quick`` (see ``benchmarks/README.md``); results go to
``benchmarks/RESULTS.md``.
"""
