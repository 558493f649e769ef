"""Enricher errors."""


class EnricherError(Exception):
    """Base of the enricher's own failures (the Gemini backend's answers it cannot use)."""
