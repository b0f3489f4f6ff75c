"""The scaled-out event log: one NATS JetStream stream, replicated across a NATS cluster.

URL form: ``nats://[user:password@]host:4222[,host2:4223,...]?stream=PARCELSTREAM&replicas=3``
(``nats://token@host`` for token auth). Every listed server is a seed; the client also learns the
rest of the cluster from the servers and fails over between them. Options in the query string:

| option | default | what it does |
|---|---|---|
| ``stream`` | ``PARCELSTREAM`` | subject ``<stream>.events``; dead letters in ``<stream>_DEAD`` |
| ``replicas`` | 1 | copies of every record (1, 3 or 5; more than one needs a cluster) |
| ``duplicate_window`` | 600 | seconds a dedup id is remembered by the broker |
| ``max_age_hours`` | 168 | retention: older records are dropped, processed or not |
| ``ack_wait`` | 30 | seconds a fetched, unacknowledged record waits before it is delivered again |

Opening the log creates the stream (file storage, discard old) or updates it to these options.

Guarantees:
- ``append`` returns once every record has its PubAck: the stream leader stored it and, with
  ``replicas`` > 1, a majority of the replicas did. That survives a killed server process and,
  replicated, the loss of a minority of machines. JetStream fsyncs on an interval
  (``sync_interval``, two minutes by default), so a single server survives power loss only with
  ``jetstream { sync_interval: always }`` in its configuration.
- A record with a dedup id is sent with ``Nats-Msg-Id``; the broker drops a resend within its
  ``duplicate_window`` (also across leader changes) and says so, which ``append`` reports. An id
  repeated within one call is a resend of the first and is not sent at all.
- Records go out pipelined, all replies awaited together: one round trip per call, not per record.
  A missing PubAck or an error raises; resending the whole call is safe.
- ``consumer(name)`` is a durable pull consumer kept by the server and shared by every process
  that asks for the same name, so N processes split the records (at-least-once). A fetched record
  not acknowledged within ``ack_wait`` comes back, to any process; ``close()`` hands unacknowledged
  records back at once. ``ack`` returns once the server confirmed every ack. ``dead_letter`` copies
  the record (with the reason in the ``Parcelstream-Reason`` header) to ``<stream>_DEAD.<consumer>``
  and terminates it, so it is never delivered again.

``NatsEventLog(url)`` connects on first use; ``await NatsEventLog.connect(url)`` connects now and
fails fast.
"""

from parcelstream.storage.nats.consumer import NatsLogConsumer
from parcelstream.storage.nats.log import NatsEventLog
from parcelstream.storage.nats.options import NatsLogError, NatsLogOptions, describe, parse_url

__all__ = [
    "NatsEventLog",
    "NatsLogConsumer",
    "NatsLogError",
    "NatsLogOptions",
    "describe",
    "parse_url",
]
