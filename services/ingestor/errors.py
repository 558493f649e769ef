"""Ingestor errors."""


class FeedNotFoundError(LookupError):
    """The requested feed does not exist or is not active."""
