"""Syncer errors."""


class SyncerError(Exception):
    """Base of the syncer's own failures."""
