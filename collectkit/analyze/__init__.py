"""Metrics, plots, comparison and lengths over graded runs (pure, DataFrames in)."""
