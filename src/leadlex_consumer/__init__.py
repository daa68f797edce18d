"""Reference consumer of the notify queue: each event forwarded once to a signed HTTPS webhook."""

__version__ = "0.1.0"
