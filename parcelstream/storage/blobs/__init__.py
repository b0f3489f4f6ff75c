"""Blob store adapters: a local folder (embedded) and S3-compatible object storage (scaled out)."""
