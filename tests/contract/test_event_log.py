"""The EventLog contract: durable appends, resends dropped by id, at-least-once delivery."""

from __future__ import annotations

import asyncio

from parcelstream.storage.ports import LogRecord
from tests.contract.conftest import LogFactory


def record(n: int, dedup: bool = True) -> LogRecord:
    return LogRecord(
        payload=f"payload-{n}".encode(), dedup_id=f"id-{n}".encode() if dedup else None
    )


async def test_append_reports_resends_within_and_across_batches(open_log: LogFactory) -> None:
    log = open_log()
    assert await log.append([record(1), record(2), record(1)]) == [False, False, True]
    assert await log.append([record(2), record(3)]) == [True, False]


async def test_records_without_an_id_are_never_resends(open_log: LogFactory) -> None:
    log = open_log()
    assert await log.append([record(1, dedup=False), record(1, dedup=False)]) == [False, False]


async def test_consumer_receives_records_in_append_order(open_log: LogFactory) -> None:
    log = open_log()
    await log.append([record(n) for n in range(10)])
    got = await log.consumer("c").fetch(100, 1.0)
    assert [d.payload for d in got] == [f"payload-{n}".encode() for n in range(10)]


async def test_fetch_waits_for_new_records(open_log: LogFactory) -> None:
    log = open_log()
    consumer = log.consumer("c")
    fetching = asyncio.create_task(consumer.fetch(10, 5.0))
    await asyncio.sleep(0.1)
    await log.append([record(1)])
    got = await asyncio.wait_for(fetching, 3.0)
    assert [d.payload for d in got] == [b"payload-1"]


async def test_fetch_returns_empty_after_waiting(open_log: LogFactory) -> None:
    assert await open_log().consumer("c").fetch(10, 0.05) == []


async def test_unacknowledged_records_come_back_after_a_restart(open_log: LogFactory) -> None:
    log = open_log()
    await log.append([record(n) for n in range(6)])
    first = log.consumer("c")
    batch = await first.fetch(3, 1.0)
    await first.ack(batch)
    await first.fetch(3, 1.0)  # taken, never acknowledged: the process "dies" here
    await log.close()

    restarted = open_log()
    again = await restarted.consumer("c").fetch(10, 1.0)
    assert [d.payload for d in again] == [f"payload-{n}".encode() for n in range(3, 6)]


async def test_appended_records_survive_reopening(open_log: LogFactory) -> None:
    log = open_log()
    await log.append([record(1)])
    await log.close()
    reopened = open_log()
    assert await reopened.append([record(1)]) == [True]
    assert len(await reopened.consumer("c").fetch(10, 1.0)) == 1


async def test_consumers_keep_separate_positions(open_log: LogFactory) -> None:
    log = open_log()
    await log.append([record(1), record(2)])
    a, b = log.consumer("a"), log.consumer("b")
    await a.ack(await a.fetch(10, 1.0))
    assert len(await b.fetch(10, 1.0)) == 2


async def test_concurrent_appends_all_land_once(open_log: LogFactory) -> None:
    log = open_log()
    results = await asyncio.gather(
        *(log.append([record(w * 1000 + n) for n in range(50)]) for w in range(20))
    )
    assert all(flag is False for flags in results for flag in flags)
    consumer = log.consumer("c")
    seen: list[bytes] = []
    while batch := await consumer.fetch(300, 0.2):
        seen.extend(d.payload for d in batch)
        await consumer.ack(batch)
    assert len(seen) == len(set(seen)) == 1000


async def test_dead_lettered_record_does_not_block_the_rest(open_log: LogFactory) -> None:
    log = open_log()
    await log.append([record(1), record(2)])
    consumer = log.consumer("c")
    poison, good = await consumer.fetch(10, 1.0)
    await consumer.dead_letter(poison, "cannot decode")
    await consumer.ack([poison, good])
    assert await consumer.fetch(10, 0.05) == []


async def test_ping_answers(open_log: LogFactory) -> None:
    await open_log().ping()
