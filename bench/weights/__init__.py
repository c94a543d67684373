"""Weights: where they come from (hub, pickles), whether they can be had (check), and getting
them onto an offline machine ahead of a sweep (fetch). Nothing here loads a model."""
