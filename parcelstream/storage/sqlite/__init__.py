"""Embedded back end: SQLite files under the data folder, no other software."""
