"""Estimated delivery: statistics learned from delivered packages, the EDD worker, evaluation."""
