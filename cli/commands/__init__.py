"""One module per `jobstream` subcommand, each exposing `register(subparsers)`."""
