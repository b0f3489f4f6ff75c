"""Worker processes that `parcelstream serve` runs beside itself, and how a child knows its
parent is gone.

Python runs one thread of Python at a time per process, so in the embedded shape the provider
calls of the notifier took CPU from scan handling (docs/benchmarks.md, Notifications). `serve`
therefore runs the notifier as a child over the same data folder: a second core for the sends,
and a slow provider's CPU never delays an acknowledgement. The child reads a pipe from the parent
and stops when it closes, so even a parent killed with SIGKILL leaves no orphan behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (0.5, 30.0)
STOP_GRACE_S = 20.0


async def supervise(
    name: str, argv: Sequence[str], stop: asyncio.Event, env: Mapping[str, str] | None = None
) -> None:
    """Run `argv` until `stop` is set, restarting it (with backoff) whenever it exits; at stop,
    SIGTERM and up to STOP_GRACE_S to finish, then SIGKILL."""
    backoff = RESTART_BACKOFF_S[0]
    while not stop.is_set():
        child = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.PIPE, env=dict(env) if env is not None else None
        )
        log.info("%s started as process %d", name, child.pid)
        exited = asyncio.create_task(child.wait())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not exited.done():
            await _stop(name, child, exited)
            stopping.cancel()
            return
        stopping.cancel()
        log.warning(
            "%s exited with status %s; restarting in %.1f s", name, exited.result(), backoff
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
        backoff = min(backoff * 2, RESTART_BACKOFF_S[1])


async def _stop(name: str, child: asyncio.subprocess.Process, exited: asyncio.Task[int]) -> None:
    child.terminate()
    try:
        await asyncio.wait_for(asyncio.shield(exited), STOP_GRACE_S)
    except TimeoutError:
        log.warning("%s did not stop within %.0f s; killing it", name, STOP_GRACE_S)
        child.kill()
        await exited
    log.info("%s stopped with status %s", name, exited.result())


def worker_argv(command: str, *options: str) -> list[str]:
    """The command line of a `parcelstream` worker run by this interpreter, as a child."""
    return [sys.executable, "-m", "parcelstream.cli", command, "--exit-with-parent", *options]


def stop_when_parent_exits(stop: asyncio.Event) -> None:
    """Set `stop` once standard input reaches its end: the parent holds the other end of the
    pipe, and the kernel closes it however the parent dies."""
    loop = asyncio.get_running_loop()

    def wait_for_end() -> None:
        # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader's lock
        # aborts the interpreter at exit.
        with contextlib.suppress(OSError):
            while os.read(0, 4096):
                pass
        with contextlib.suppress(RuntimeError):  # the loop already closed: nothing to stop
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_end, name="parent-watch", daemon=True).start()
