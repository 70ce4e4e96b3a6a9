"""Benchmarks: scripts that print a table and write JSON (and plots); never timed tests."""
