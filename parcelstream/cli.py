"""The `parcelstream` command: serve, api, processor, notifier, eta, poller, drops, ingest,
migrate, keys, rebuild-read-model, simulate, fake-carrier."""

from __future__ import annotations

import asyncio
import logging
import os
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
HostOption = Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")]
PortOption = Annotated[int | None, typer.Option(help="Listen port (default 8000).")]
ExitWithParentOption = Annotated[
    bool, typer.Option(hidden=True, help="Stop when standard input closes (run by serve).")
]


def _settings(data: Path | None, **overrides: object) -> Settings:
    settings = Settings()
    changes = {k: v for k, v in overrides.items() if v is not None}
    if data is not None:
        changes["data_dir"] = data
    return settings.model_copy(update=changes)


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _exit_after_graceful_stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _refuse_bad_settings(settings: Settings) -> None:
    """Fail before any worker starts: a worker that dies at start-up says little, and late."""
    from parcelstream.wiring import check_settings, signing_secret

    try:
        check_settings(settings)
        signing_secret(settings)
    except ValueError as exc:
        typer.echo(f"parcelstream: {exc}", err=True)
        raise typer.Exit(2) from None


def _run_http(settings: Settings, target: object, *, workers: int = 1) -> None:
    import uvicorn

    _refuse_bad_settings(settings)
    # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal against the handler
    # it found; this one turns that asked-for stop into a successful exit.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_after_graceful_stop)
    uvicorn.run(
        target,  # type: ignore[arg-type]
        factory=isinstance(target, str),
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=20,
    )


@app.command()
def serve(host: HostOption = None, port: PortOption = None, data: DataOption = None) -> None:
    """Run everything in one process: API and processor, state under --data."""
    from parcelstream.api.app import create_app

    settings = _settings(data, host=host, port=port)
    _logging()
    typer.echo(
        f"parcelstream serving on http://{settings.host}:{settings.port}"
        f" (data in {settings.data_dir})"
    )
    app = create_app(
        settings, with_processor=True, notifier_in_child=settings.serve_notifier == "process"
    )
    _run_http(settings, app)


@app.command()
def api(
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    data: DataOption = None,
) -> None:
    """Run the HTTP API only (scaled out: run the processor separately), in N worker processes."""
    settings = _settings(data, host=host, port=port)
    # Workers build their own app from the environment, so the options travel that way.
    os.environ["PARCELSTREAM_DATA_DIR"] = str(settings.data_dir)
    _logging()
    typer.echo(f"parcelstream api on http://{settings.host}:{settings.port}, {workers} workers")
    _run_http(settings, "parcelstream.api.app:api_from_environment", workers=workers)


@app.command()
def processor(data: DataOption = None) -> None:
    """Consume the event log into history, status and documents. Run any number at once."""
    from parcelstream.processes import run_processor

    settings = _settings(data)
    _refuse_bad_settings(settings)
    _logging()
    asyncio.run(run_processor(settings))


@app.command()
def notifier(data: DataOption = None, exit_with_parent: ExitWithParentOption = False) -> None:
    """Send milestone notifications (e-mail, SMS, push, webhooks). Run any number at once."""
    from parcelstream.processes import run_notifier

    settings = _settings(data)
    _refuse_bad_settings(settings)
    _logging()
    asyncio.run(run_notifier(settings, exit_with_parent=exit_with_parent))


@app.command()
def drops(data: DataOption = None) -> None:
    """Watch the CSV drop folder or S3 prefix and ingest each new file once. Run any number."""
    from parcelstream.processes import run_drop_watcher

    settings = _settings(data)
    _refuse_bad_settings(settings)
    _logging()
    asyncio.run(run_drop_watcher(settings))


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="A facility CSV file (header row, one scan a row).")],
    data: DataOption = None,
) -> None:
    """Ingest one facility CSV file onto the configured event log, as the drop watcher would;
    prints the result as JSON and writes rejected rows to FILE.rejects.csv beside it. Exits 1
    when the file cannot be read."""
    import json

    from parcelstream.processes import ingest_file

    settings = _settings(data)
    _refuse_bad_settings(settings)
    try:
        result = asyncio.run(ingest_file(settings, file))
    except OSError as exc:
        typer.echo(f"parcelstream ingest: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, indent=2))
    if result["error"]:
        typer.echo(f"parcelstream ingest: {file}: {result['error']}", err=True)
        raise typer.Exit(1)


@app.command()
def poller(data: DataOption = None) -> None:
    """Poll partner carriers (UPS, FedEx, USPS) about packages push has gone quiet on."""
    from parcelstream.processes import run_poller

    settings = _settings(data)
    _refuse_bad_settings(settings)
    _logging()
    try:
        asyncio.run(run_poller(settings))
    except ValueError as exc:
        typer.echo(f"parcelstream: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("fake-carrier")
def fake_carrier(
    carrier: Annotated[str, typer.Argument(help="ups, fedex or usps.")],
    port: Annotated[int, typer.Option(help="Listen port.")] = 9100,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    scenario: Annotated[
        Path | None, typer.Option(help="Simulator scenario (JSON Lines) whose journeys to play.")
    ] = None,
    journey: Annotated[
        list[str] | None, typer.Option(help="Make up a journey for this number; repeatable.")
    ] = None,
    scale: Annotated[
        float,
        typer.Option(help="Journey seconds per real second (0: only the admin API moves time)."),
    ] = 3600.0,
    webhook_url: Annotated[str | None, typer.Option(help="Where to push events.")] = None,
    webhook_secret: Annotated[
        str | None, typer.Option(help="FedEx security token or USPS HMAC secret for pushes.")
    ] = None,
    token_url: Annotated[
        str | None, typer.Option(help="UPS: the receiver's token URL, called before pushing.")
    ] = None,
    push_client_id: Annotated[
        str | None, typer.Option(help="UPS: client id for token_url.")
    ] = None,
    push_client_secret: Annotated[
        str | None, typer.Option(help="UPS: client secret for token_url.")
    ] = None,
    client_id: Annotated[str, typer.Option(help="API client id the fake accepts.")] = "fake-client",
    client_secret: Annotated[
        str, typer.Option(help="API client secret the fake accepts.")
    ] = "fake-secret",
    token_lifetime: Annotated[
        float | None, typer.Option(help="Seconds a token lives (carrier default otherwise).")
    ] = None,
    retry_interval: Annotated[
        float, typer.Option(help="Seconds between a failed push's retries (FedEx, USPS).")
    ] = 300.0,
    fail: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject a fault: track:429, track:500:3, track:slow=2, track:malformed,"
            " token:401, push:duplicate, push:reorder; repeatable."
        ),
    ] = None,
) -> None:
    """A local fake UPS, FedEx or USPS: token, tracking and subscription endpoints, and pushes."""
    from parcelstream.carriers.fake.base import PushOptions
    from parcelstream.carriers.fake.server import FAKES, FakeOptions, build_fake, serve

    if carrier not in FAKES:
        raise typer.BadParameter(f"unknown carrier {carrier!r}; one of {', '.join(FAKES)}")
    options = FakeOptions(
        client_id=client_id,
        client_secret=client_secret,
        scenario=scenario,
        journeys=tuple(journey or ()),
        scale=scale,
        token_lifetime=token_lifetime,
        push=PushOptions(
            webhook_url=webhook_url,
            secret=webhook_secret,
            token_url=token_url,
            client_id=push_client_id,
            client_secret=push_client_secret,
            retry_interval=retry_interval,
        ),
        faults=tuple(fail or ()),
    )
    try:
        fake = build_fake(carrier, options)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    _logging()
    typer.echo(
        f"fake {carrier} on http://{host}:{port} with {len(fake.journeys)} journeys"
        f"{f', pushing to {webhook_url}' if webhook_url else ''}"
    )
    serve(fake, host, port)


@app.command()
def migrate() -> None:
    """Bring the PostgreSQL schema up to date (idempotent; safe from several processes)."""
    from parcelstream.processes import run_migrations

    _logging()
    applied = asyncio.run(run_migrations(_settings(None)))
    typer.echo(f"applied {', '.join(applied)}" if applied else "schema up to date")


@app.command("rebuild-read-model")
def rebuild_read_model() -> None:
    """Refill Redis with every tracking document from PostgreSQL (after Redis lost its data)."""
    from parcelstream.processes import rebuild_read_model as rebuild

    _logging()
    copied = asyncio.run(rebuild(_settings(None)))
    typer.echo(f"copied {copied} documents to Redis")


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
        backends = await open_backends(_settings(data))
        try:
            return await create_key(backends.keys, name, scope)
        finally:
            await backends.close()

    secret = asyncio.run(create())
    typer.echo(
        f"Created key {name!r} with scopes {', '.join(sorted(set(scope)))}. It is shown only once:"
    )
    typer.echo(secret)


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="Server base URL.")] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="PARCELSTREAM_API_KEY",
            help="Key with scopes scans:write and packages:write (or admin).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same scenario.")] = 1,
    days: Annotated[int, typer.Option(min=1, help="Days of traffic.")] = 14,
    packages_per_day: Annotated[
        int, typer.Option(min=0, help="Pickups per weekday (a fifth on Saturdays).")
    ] = 2000,
    start: Annotated[
        str | None,
        typer.Option(help="First day, e.g. 2026-11-02 (UTC); default: --days days ago."),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(min=1, help="Offer this many scans/s (open loop).")
    ] = None,
    as_fast_as_possible: Annotated[
        bool,
        typer.Option(
            "--as-fast-as-possible",
            help="Send each batch once the server has taken the previous ones.",
        ),
    ] = False,
    batch: Annotated[int, typer.Option(min=1, help="Most scans per request (unpaced).")] = 500,
    in_flight: Annotated[
        int | None, typer.Option(min=1, help="Scan requests outstanding (8 paced, 4 not).")
    ] = None,
    retries: Annotated[
        int, typer.Option(min=0, help="Resends of a request failing in transit or with 5xx.")
    ] = 7,
    save: Annotated[Path | None, typer.Option(help="Write the scenario (JSON Lines) here.")] = None,
    replay: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Send a saved scenario.")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Write each package's actual outcome (JSON Lines) here.")
    ] = None,
    no_faults: Annotated[
        bool, typer.Option("--no-faults", help="A clean network: no faults.")
    ] = False,
) -> None:
    """Drive a simulated carrier network against a running server, or save it to a file."""
    from datetime import UTC, datetime

    from parcelstream.sim.driver import DriveFailed, Pacing, drive
    from parcelstream.sim.faults import Faults
    from parcelstream.sim.run import (
        default_start,
        describe_scenario,
        describe_summary,
        parse_start,
        scenario_for,
    )

    if rate is not None and as_fast_as_possible:
        raise typer.BadParameter("choose one of --rate and --as-fast-as-possible")
    sending = rate is not None or as_fast_as_possible
    if not sending and save is None and truth is None:
        raise typer.BadParameter(
            "choose --rate N or --as-fast-as-possible to send, or --save FILE to only write"
        )
    if sending and not api_key:
        raise typer.BadParameter("--api-key (or PARCELSTREAM_API_KEY) is needed to send")
    try:
        first = parse_start(start) if start else default_start(days, datetime.now(UTC).date())
    except ValueError:
        raise typer.BadParameter(f"--start {start!r}: expected a date such as 2026-11-02") from None
    faults = Faults.none() if no_faults else Faults()
    scenario = scenario_for(replay, seed, first, days, packages_per_day, faults)
    typer.echo(describe_scenario(scenario))
    if save is not None:
        scenario.save(save)
        typer.echo(f"saved the scenario to {save}")
    if truth is not None:
        scenario.write_truth(truth)
        typer.echo(f"wrote the truth of {len(scenario.truths)} packages to {truth}")
    if not sending:
        return
    assert api_key is not None
    pacing = Pacing(rate=rate, batch=batch, in_flight=in_flight, retries=retries)

    def progress(summary: object) -> None:
        typer.echo(describe_summary(summary).splitlines()[1], err=True)  # type: ignore[arg-type]

    try:
        summary = asyncio.run(drive(scenario.events(), url, api_key, pacing, progress))
    except DriveFailed as exc:
        typer.echo(f"parcelstream simulate: {exc.args[0]}", err=True)
        if len(exc.args) > 1:
            typer.echo(describe_summary(exc.args[1]), err=True)
        raise typer.Exit(1) from None
    typer.echo(describe_summary(summary))


eta_app = typer.Typer(help="Estimated delivery: the EDD worker, and its evaluation.")
app.add_typer(eta_app, name="eta")


@eta_app.callback(invoke_without_command=True)
def eta(ctx: typer.Context, data: DataOption = None) -> None:
    """Alone: compute estimated deliveries for changed packages (run any number at once)."""
    if ctx.invoked_subcommand is not None:
        return
    from parcelstream.processes import run_eta

    settings = _settings(data)
    _refuse_bad_settings(settings)
    _logging()
    asyncio.run(run_eta(settings))


@eta_app.command("evaluate")
def eta_evaluate(
    seed: Annotated[int, typer.Option(help="Same seed, same fortnight.")] = 7,
    packages_per_day: Annotated[
        int, typer.Option(min=10, help="Pickups per weekday of the simulated fortnight.")
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Score the estimates on a simulated fortnight: learn from week one, estimate after every
    scan of week two, against the service-level promise and the lane statistics alone."""
    import json

    from parcelstream.eta.evaluate import evaluate, render_report

    figures = evaluate(seed, packages_per_day)
    typer.echo(json.dumps(figures, indent=2) if as_json else render_report(figures))


if __name__ == "__main__":
    app()
