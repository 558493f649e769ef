"""Syncer errors."""


class SyncerError(Exception):
    """Base of the syncer's own failures (a mirror that could not do what was asked)."""
