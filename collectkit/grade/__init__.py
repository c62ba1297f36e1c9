"""Grading extracted answers (in worker processes) and writing processed files."""
