"""Judging results: metric groups, gates, regression rules against baselines."""
