"""Proof of delivery: the image files, their storage, and who may see them through which links."""
