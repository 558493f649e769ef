"""Benchmarks: `make bench` runs every suite, writes bench/results/latest.json, prints a table."""
