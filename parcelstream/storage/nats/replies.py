"""Requests sent back to back with their replies awaited together: PubAcks and duplicates, ack
confirmations, and the one subscription that routes every reply to its request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from parcelstream.storage.nats.options import NatsLogError

TIMEOUT = 5.0
"""Seconds to wait for PubAcks, ack confirmations and JetStream API answers."""


class _ApiError(msgspec.Struct):
    code: int = 0
    description: str = ""


class _PubAck(msgspec.Struct):
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


_decode_pub_ack = msgspec.json.Decoder(_PubAck).decode


def is_duplicate(reply: Msg) -> bool:
    """Read a PubAck; raise if the stream refused the record or nobody was there to take it."""
    status = reply.headers.get("Status") if reply.headers else None
    if status is not None:
        raise NatsLogError(f"no stream took the record (status {status})")
    ack = _decode_pub_ack(reply.data)
    if ack.error is not None:
        raise NatsLogError(f"the stream refused a record: {ack.error.code} {ack.error.description}")
    return ack.duplicate


def raise_on_status(replies: list[Msg], what: str) -> None:
    for reply in replies:
        if reply.headers and "Status" in reply.headers:
            raise NatsLogError(f"{what} not taken (status {reply.headers['Status']})")


@dataclass
class _Waiting:
    replies: list[Msg | None]
    missing: int
    done: asyncio.Future[None]


Request = tuple[str, bytes, dict[str, str] | None]


class Replies:
    """Sends many requests back to back and awaits all their replies together.

    One subscription routes every reply by the token in its subject. nats-py's request() and
    publish_async() pay a timer or a semaphore, a future and a JSON decode into a dataclass per
    message, and reached a third of this throughput (20,000 against 55,000 PubAcks/s here).
    """

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = f"{nc.new_inbox()}."
        self._waiting: dict[int, tuple[_Waiting, int]] = {}
        self._next_token = 0

    async def start(self) -> None:
        await self._nc.subscribe(f"{self._prefix}*", cb=self._on_reply)

    async def send_all(self, requests: Sequence[Request]) -> list[Msg]:
        """Replies in request order; raises NatsLogError if any is missing after the timeout."""
        if not requests:
            return []
        loop = asyncio.get_running_loop()
        waiting = _Waiting([None] * len(requests), len(requests), loop.create_future())
        first = self._next_token
        self._next_token += len(requests)
        tokens = range(first, first + len(requests))
        for index, token in enumerate(tokens):
            self._waiting[token] = (waiting, index)
        try:
            for token, (subject, payload, headers) in zip(tokens, requests, strict=True):
                reply = f"{self._prefix}{token}"
                await self._nc.publish(subject, payload, reply=reply, headers=headers)
            await asyncio.wait_for(waiting.done, TIMEOUT)
        except TimeoutError:
            raise NatsLogError(
                f"{waiting.missing} of {len(requests)} requests got no answer in {TIMEOUT} s"
            ) from None
        finally:
            for token in tokens:
                self._waiting.pop(token, None)
        return [reply for reply in waiting.replies if reply is not None]

    async def _on_reply(self, msg: Msg) -> None:
        token = msg.subject[len(self._prefix) :]
        entry = self._waiting.pop(int(token), None) if token.isdigit() else None
        if entry is None:  # the answer to a request that already timed out
            return
        waiting, index = entry
        waiting.replies[index] = msg
        waiting.missing -= 1
        if waiting.missing == 0 and not waiting.done.done():
            waiting.done.set_result(None)
