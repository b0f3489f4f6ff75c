"""Session-wide fixtures: the SeaweedFS server is started once, by the first test that asks."""

from tests.backends.s3 import seaweedfs

__all__ = ["seaweedfs"]
