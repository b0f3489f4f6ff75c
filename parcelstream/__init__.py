"""parcelstream: scans in, package status, history and delivery estimates out."""

__version__ = "0.1.0"
