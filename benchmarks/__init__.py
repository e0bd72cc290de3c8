"""cwpro's benchmark suite: ``python -m benchmarks`` runs every benchmark and writes RESULTS.md.

Each ``bench_*.py`` module also runs alone: ``python -m benchmarks.bench_request_overhead``.
"""
