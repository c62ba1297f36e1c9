"""Exporting responses as training data (Parquet, datasets, Hub)."""
