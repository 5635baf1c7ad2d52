"""The `harness` command: a thin HTTP/SSE client of the Harness API. It imports no Django module."""

__version__ = "0.1.0"
