"""Router errors."""


class RouterError(Exception):
    """Base of the router's own failures."""
