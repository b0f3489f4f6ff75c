"""Scaled-out state on PostgreSQL (asyncpg): history, master data, documents and keys."""
