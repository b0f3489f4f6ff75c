"""Ingest benchmark: how fast POST /v1/scans acknowledges scans, and how long the processor takes
to make them visible in GET /v1/track.

It starts its own `parcelstream serve` (temporary data folder, free port), creates an API key,
then posts N packages x M scans in batches from C concurrent keep-alive clients. Scans go out
round by round (every package's 1st scan, then every package's 2nd, ...), as a network of scanners
reports them, so each package is re-projected once per round (--order package sends each
package's scans together instead). Bodies are encoded before the clock starts. It reports:

* acked scans/s: scans accepted / (last ack - first post), with the per-batch ack latency;
* visibility lag: last ack -> the last package posted shows its final status and every event
  (the last package of every batch of the final round, polled lightly one at a time, then a
  random sample checked in full);
* end to end: all scans / (first post -> all visible), i.e. the processing rate;
* a full check that every package shows all its scans (skip with --no-verify).

Run from the repo root (about 20 s with the defaults):

    python bench/ingest.py               # 20,000 packages x 5 scans, batches of 1000, 8 clients
    python bench/ingest.py --packages 2000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from _support import (
    HOST,
    HttpConnection,
    Server,
    describe_machine,
    expected_status,
    get_json,
    machine,
    running_server,
    scan_batches,
    scan_rounds,
    summarize_ms,
    tracking_numbers,
)


@dataclass
class PostStats:
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    first_post: float = 0.0
    last_ack: float = 0.0


async def post_all(
    server: Server, batches: Sequence[tuple[bytes, int, str]], concurrency: int
) -> PostStats:
    """Each client takes the next batch in order and posts it; all share one counter."""
    stats = PostStats()
    next_batch = iter(range(len(batches)))
    conns = [HttpConnection(HOST, server.port) for _ in range(concurrency)]
    await asyncio.gather(*(conn.open() for conn in conns))

    async def client(conn: HttpConnection) -> None:
        for index in next_batch:
            body, _, _ = batches[index]
            request = conn.post_request("/v1/scans", body, server.key)
            sent = time.perf_counter()
            status, answer = await conn.send(request)
            done = time.perf_counter()
            stats.latencies_ms.append((done - sent) * 1000)
            stats.last_ack = max(stats.last_ack, done)
            if status != 200:
                stats.errors.append(f"batch {index}: HTTP {status}: {answer[:300]!r}")
                continue
            outcome = json.loads(answer)
            stats.accepted += outcome["accepted"]
            stats.rejected += outcome["rejected"]
            stats.duplicates += outcome["duplicates"]
            if outcome["errors"] and len(stats.errors) < 5:
                stats.errors.append(f"batch {index}: {outcome['errors'][:2]}")

    stats.first_post = time.perf_counter()
    try:
        await asyncio.gather(*(client(conn) for conn in conns))
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))
    return stats


def is_complete(status: int, document: Any, scans: int) -> bool:
    return (
        status == 200
        and document["status"] == expected_status(scans)
        and len(document["events"]) == scans
    )


async def incomplete(
    conns: Sequence[HttpConnection], numbers: Sequence[str], scans: int
) -> list[str]:
    """The packages among `numbers` that do not yet show their final status and every scan."""
    missing: list[str] = []

    async def check(conn: HttpConnection, part: Sequence[str]) -> None:
        for number in part:
            status, document = await get_json(conn, f"/v1/track/{number}")
            if not is_complete(status, document, scans):
                missing.append(number)

    step = len(conns)
    await asyncio.gather(*(check(c, numbers[i::step]) for i, c in enumerate(conns)))
    return missing


async def wait_visible(
    server: Server,
    watch: Sequence[str],
    sample: Sequence[str],
    scans: int,
    give_up_s: float,
    connections: int = 4,
) -> tuple[float, int]:
    """Wait until every package in `watch` and `sample` is complete: (time they all were, GETs).

    The processor applies the log in order, so the packages in `watch` (the last ones posted,
    likeliest last first) finish last. They are polled one at a time, 100 times a second at
    most, so polling takes little from the server it is timing; the sample is then checked in
    full (and again while anything in it is still incomplete)."""
    conns = [HttpConnection(HOST, server.port) for _ in range(connections)]
    deadline = time.perf_counter() + give_up_s
    gets = 0
    try:
        for number in watch:
            while True:
                gets += 1
                if not await incomplete(conns[:1], [number], scans):
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"package {number} still incomplete")
                await asyncio.sleep(0.01)
        pending = list(sample)
        while True:
            gets += len(pending)
            pending = await incomplete(conns, pending, scans)
            if not pending:
                return time.perf_counter(), gets
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{len(pending)} sampled packages still incomplete")
            await asyncio.sleep(0.01)
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))


async def verify_all(
    server: Server, numbers: Sequence[str], scans: int, connections: int = 8
) -> int:
    """How many packages show their final status with every scan."""
    conns = [HttpConnection(HOST, server.port) for _ in range(connections)]
    try:
        return len(numbers) - len(await incomplete(conns, numbers, scans))
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    numbers = tracking_numbers(args.packages, rng)
    rounds = scan_rounds(numbers, args.scans_per_package, rng)
    batches = scan_batches(rounds, args.batch, by_package=args.order == "package")
    total = args.packages * args.scans_per_package
    # The final round's batches end with the last scans appended; the processor goes in log
    # order, so their last packages are among the last to become complete.
    final_round_batches = -(-args.packages // args.batch)
    if args.order == "package":
        final_round_batches = min(len(batches), 20)
    watch = list(dict.fromkeys(tn for _, _, tn in reversed(batches[-final_round_batches:])))
    sample = sorted(set(rng.sample(numbers, min(args.sample, len(numbers)))) - set(watch))

    result: dict[str, Any] = {
        "benchmark": "ingest",
        "machine": machine(),
        "params": {
            "packages": args.packages,
            "scans_per_package": args.scans_per_package,
            "scans": total,
            "batch": args.batch,
            "concurrency": args.concurrency,
            "visibility_watch": len(watch),
            "visibility_sample": len(sample),
            "order": args.order,
            "seed": args.seed,
        },
    }
    with running_server() as server:
        cpu_before = server.cpu_seconds()
        stats = await post_all(server, batches, args.concurrency)
        cpu_at_ack = server.cpu_seconds()
        if stats.errors and stats.accepted < total:
            raise RuntimeError("posting failed: " + "; ".join(stats.errors[:5]))
        visible_at, polls = await wait_visible(
            server, watch, sample, args.scans_per_package, give_up_s=args.timeout
        )
        cpu_at_visible = server.cpu_seconds()
        ack_s = stats.last_ack - stats.first_post
        e2e_s = visible_at - stats.first_post
        result["ingest"] = {
            "accepted": stats.accepted,
            "rejected": stats.rejected,
            "duplicates": stats.duplicates,
            "errors": stats.errors[:5],
            "post_seconds": round(ack_s, 3),
            "acked_scans_per_s": round(stats.accepted / ack_s, 1),
            "batch_ack_latency": summarize_ms(stats.latencies_ms),
            "server_cpu_seconds_while_posting": round(cpu_at_ack - cpu_before, 2),
        }
        result["visibility"] = {
            "last_ack_to_all_visible_s": round(visible_at - stats.last_ack, 3),
            "first_post_to_all_visible_s": round(e2e_s, 3),
            "end_to_end_scans_per_s": round(total / e2e_s, 1),
            "polling_gets": polls,
            "server_cpu_seconds_after_last_ack": round(cpu_at_visible - cpu_at_ack, 2),
        }
        if args.verify:
            complete = await verify_all(server, numbers, args.scans_per_package)
            result["verify"] = {"packages_complete": complete, "packages": len(numbers)}
    return result


def report(result: dict[str, Any]) -> str:
    p, i, v = result["params"], result["ingest"], result["visibility"]
    lat = i["batch_ack_latency"]
    lines = [
        describe_machine(result["machine"]),
        f"offered: {p['packages']:,} packages x {p['scans_per_package']} scans ="
        f" {p['scans']:,} scans ({p['order']} order), batches of {p['batch']},"
        f" {p['concurrency']} concurrent clients",
        f"acked:   {i['accepted']:,} accepted, {i['rejected']} rejected, {i['duplicates']}"
        f" duplicates in {i['post_seconds']:.2f} s = {i['acked_scans_per_s']:,.0f} scans/s",
        f"         batch ack latency p50 {lat['p50_ms']:.1f} ms, p90 {lat['p90_ms']:.1f} ms,"
        f" p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms;"
        f" server CPU {i['server_cpu_seconds_while_posting']:.1f} s",
        f"visible: last ack -> the {p['visibility_watch']} last-posted and"
        f" {p['visibility_sample']} random packages all complete in"
        f" {v['last_ack_to_all_visible_s']:.2f} s"
        f" (server CPU {v['server_cpu_seconds_after_last_ack']:.1f} s)",
        f"e2e:     first post -> all visible {v['first_post_to_all_visible_s']:.2f} s ="
        f" {v['end_to_end_scans_per_s']:,.0f} scans/s processed",
    ]
    if "verify" in result:
        lines.append(
            f"verify:  {result['verify']['packages_complete']:,} of"
            f" {result['verify']['packages']:,} packages show their final status and every scan"
        )
    if i["errors"]:
        lines.append(f"errors:  {i['errors']}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--packages", type=int, default=20_000, help="distinct packages (N)")
    parser.add_argument(
        "--scans-per-package", type=int, default=5, help="scans per package (M, >= 1)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="scans per POST (<= 5000)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent posting clients")
    parser.add_argument(
        "--sample", type=int, default=500, help="random packages polled for visibility"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="give up waiting for visibility after this"
    )
    parser.add_argument(
        "--no-verify", dest="verify", action="store_false", help="skip the full check at the end"
    )
    parser.add_argument(
        "--order",
        choices=("rounds", "package"),
        default="rounds",
        help="rounds: every package's 1st scan, then every 2nd, ... (default);"
        " package: each package's scans together",
    )
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.packages < 1 or args.scans_per_package < 1 or not 1 <= args.batch <= 5000:
        parser.error("need --packages >= 1, --scans-per-package >= 1, 1 <= --batch <= 5000")
    if args.concurrency < 1:
        parser.error("need --concurrency >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2) if args.json else report(result))
    verify = result.get("verify")
    return 1 if verify and verify["packages_complete"] != verify["packages"] else 0


if __name__ == "__main__":
    sys.exit(main())
