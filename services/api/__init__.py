"""The control plane: HTTP API for feeds, runs and the manual review queue, and the scheduler."""
