"""Scorers: one module per metric family, each loading its model once and scoring images in
batches. Their metadata (title, kind, direction, unit, options) is the registry in
bench.metrics, which names the scorer class by dotted path so that nothing here is imported
until a scoring pass starts."""
