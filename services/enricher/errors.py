"""Enricher errors."""


class EnricherError(Exception):
    """Base of the enricher's own failures."""
