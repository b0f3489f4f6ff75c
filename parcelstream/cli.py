"""The `parcelstream` command: serve, keys."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from parcelstream.settings import Settings

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Package tracking: scans in, status out."
)
keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
app.add_typer(keys_app, name="keys")

DataOption = Annotated[
    Path | None, typer.Option("--data", help="Folder for embedded state (default ./data).")
]


def _settings(data: Path | None, **overrides: object) -> Settings:
    settings = Settings()
    changes = {k: v for k, v in overrides.items() if v is not None}
    if data is not None:
        changes["data_dir"] = data
    return settings.model_copy(update=changes)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8000).")] = None,
    data: DataOption = None,
) -> None:
    """Run everything embedded in one process: API and processor, state under --data."""
    import uvicorn

    from parcelstream.api.app import create_app

    settings = _settings(data, host=host, port=port)
    # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal against the handler
    # it found; this one turns that asked-for stop into a successful exit.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_after_graceful_stop)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    typer.echo(
        f"parcelstream serving on http://{settings.host}:{settings.port}"
        f" (data in {settings.data_dir})"
    )
    uvicorn.run(
        create_app(settings, with_processor=True),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        loop="auto",
        http="auto",
        timeout_graceful_shutdown=20,
    )


def _exit_after_graceful_stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    scope: Annotated[
        list[str], typer.Option(help="scans:write, packages:write or admin; repeatable.")
    ],
    data: DataOption = None,
) -> None:
    """Create an API key; the key is printed once, as the last line."""
    from parcelstream.api.auth import SCOPES, create_key
    from parcelstream.wiring import open_backends

    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        raise typer.BadParameter(f"unknown scope {', '.join(unknown)}; one of {', '.join(SCOPES)}")

    async def create() -> str:
        backends = open_backends(_settings(data))
        try:
            return await create_key(backends.keys, name, scope)
        finally:
            await backends.close()

    secret = asyncio.run(create())
    typer.echo(
        f"Created key {name!r} with scopes {', '.join(sorted(set(scope)))}. It is shown only once:"
    )
    typer.echo(secret)


if __name__ == "__main__":
    app()
