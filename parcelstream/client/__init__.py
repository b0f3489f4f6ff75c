"""The driver-app client: buffers scans on the device and delivers them to a parcelstream server.

Needs only httpx2 and the standard library, so it installs on a handheld without the server's
dependencies. See the README's "Driver apps and integrations" section.
"""

from parcelstream.client.backoff import Backoff
from parcelstream.client.buffer import RejectedScan
from parcelstream.client.client import Client, ClientError, FlushResult

__all__ = ["Backoff", "Client", "ClientError", "FlushResult", "RejectedScan"]
