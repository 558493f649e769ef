"""The `jobstream` command line: operator commands for the local stack and the pipeline."""
