"""The Dash dashboard for planners; the only package that imports Dash, and it uses only the
public API of :mod:`twin`."""
