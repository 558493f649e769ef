"""Ingestor errors."""


class FeedNotFound(LookupError):
    """The requested feed does not exist or is not active."""
