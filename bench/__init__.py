"""bench: a benchmark of text-to-image models, schedulers and backends."""

__version__ = "0.1.0"
