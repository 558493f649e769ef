"""Router errors."""


class RouterError(Exception):
    """Base of the router's own failures (a part of a batch that failed alone)."""
