"""Real `parcelstream` processes for the end-to-end tests.

A `Server` runs `python -m parcelstream.cli serve` on a free port over a data folder, appends its
stdout and stderr to one log file (kept across restarts, each start marked), waits for /healthz,
and can be stopped with SIGKILL or SIGTERM. The conftest kills whatever is still running at
teardown and attaches the log to the report of a failed test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx2

_CLI = (sys.executable, "-m", "parcelstream.cli")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    """The caller's environment without PARCELSTREAM_* settings, unbuffered so nothing written
    before a SIGKILL is lost from the log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARCELSTREAM_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def create_key(
    data_dir: Path, name: str, *scopes: str, env: Mapping[str, str] | None = None
) -> str:
    """`parcelstream keys create`; the key is the last line of stdout."""
    command = [*_CLI, "keys", "create", "--name", name, "--data", str(data_dir)]
    for scope in scopes:
        command += ["--scope", scope]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env={**child_env(), **(env or {})},
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited with {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    lines = done.stdout.strip().splitlines()
    assert lines, f"keys create printed nothing; stderr:\n{done.stderr}"
    return lines[-1].strip()


class ServerError(AssertionError):
    pass


class Server:
    """`serve` by default; `command=("api",)` or `("processor",)` with back-end URLs in `env`
    for the scaled-out shape (a processor has no HTTP port: it is ready once it logs so)."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        port: int | None = None,
        *,
        command: Sequence[str] = ("serve",),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.command = tuple(command)
        self.env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log_offset = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and return once /healthz answers 200 (the lifespan has run by then:
        uvicorn opens its socket only after startup)."""
        if self.running:
            raise ServerError("the server is already running")
        self.starts += 1
        self.data_dir.mkdir(parents=True, exist_ok=True)
        http = self.command[0] != "processor"
        command = [*_CLI, *self.command, "--data", str(self.data_dir)]
        if http:
            command += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            log.write(f"===== start #{self.starts}: {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**child_env(), **self.env},
                cwd=self.data_dir,
                # Its own process group: `api --workers N` forks workers that a SIGKILL of the
                # supervisor alone would leave running.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        if not http:
            self._wait_for_log("processor running", deadline)
            return
        with httpx2.Client(timeout=2.0) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise ServerError(
                        f"the server exited with {code} while starting:\n{self.log_tail()}"
                    )
                try:
                    if client.get(f"{self.base_url}/healthz").status_code == 200:
                        return
                except httpx2.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise ServerError(f"/healthz did not answer within {timeout}s")
                time.sleep(0.05)

    def _wait_for_log(self, text: str, deadline: float) -> None:
        assert self.process is not None
        while text not in self.log_text(since_last_start=True):
            if self.process.poll() is not None:
                raise ServerError(f"{self.command[0]} exited while starting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ServerError(f"{self.command[0]} did not log {text!r} in time")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would; returns once the process is gone."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._note(f"killed with SIGKILL (exit {self.process.returncode})")

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self._note("sent SIGTERM")

    def wait(self, timeout: float) -> int:
        """The exit code; raises subprocess.TimeoutExpired if still running after `timeout`."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Teardown: whatever state it is in, make sure the process is gone."""
        if self.running:
            self.kill()

    def log_text(self, *, since_last_start: bool = False) -> str:
        if not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()
        if since_last_start:
            data = data[self._log_offset :]
        return data.decode(errors="replace")

    def log_tail(self, lines: int = 200) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _note(self, message: str) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"===== harness: {message}\n".encode())


ServerFactory = Callable[..., Server]
"""The `server_factory` fixture: `make(name="server")` -> a Server, not yet started."""
