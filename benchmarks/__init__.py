"""Developer benchmarks, run from the project root (`python -m benchmarks.bench`); not part of the shipped package."""
