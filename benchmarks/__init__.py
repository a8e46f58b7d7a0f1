"""The benchmark suite: ``python -m benchmarks --suite S --out DIR`` (see :mod:`benchmarks.runner`)."""
